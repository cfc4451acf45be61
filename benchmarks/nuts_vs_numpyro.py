"""geobayes NUTS against NumPyro NUTS (and against geobayes HMC and MALA): min bulk ESS per second.

Every run is a fresh Python process that imports its library, builds the model and draws
4 chains x (1000 warmup + 1000 draws) in float64 (NumPyro: ``chain_method="vectorized"``,
``jax_enable_x64``).  Inside the process the sampler is then called a second time with
another seed, in the same process, so that nothing is left to compile.  ESS (ArviZ bulk,
minimum over the parameters) is computed after all timings.  Three timings per run:

* ``process``: from the parent's spawn to the end of the first sampling call (imports,
  model, compilation, sampling; ESS excluded).  For NumPyro with JAX's persistent
  compilation cache off (NumPyro's default, ``numpyro``), and with it on and warm
  (``numpyro+cache``, the fair counterpart of geobayes' warm Numba disk cache);
* ``call``: the second sampling call alone (no compilation for either library: NumPyro
  runs with ``jit_model_args=True`` so that its second ``MCMC.run`` reuses the compiled
  sampler; without it NumPyro re-traces and re-compiles on every run).

Runs alternate between the libraries within each repetition and the table reports
medians over repetitions.  The machine is shared: the load average is recorded.

NumPyro and JAX are optional (``pip install -e ".[peers]"``); without them only the
geobayes rows are printed.

Run::

    python -m benchmarks.nuts_vs_numpyro --repeats 3
    python -m benchmarks.nuts_vs_numpyro --models eight_schools --repeats 1 --no-numpyro
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["run", "format_table"]

MODELS = (
    "gaussian_100",
    "eight_schools",
    "arK-arK",
    "garch-garch11",
    "gp_pois_regr-gp_pois_regr",
    "kidiq-kidscore_interaction",
    "kilpisjarvi_mod-kilpisjarvi",
    "low_dim_gauss_mix-low_dim_gauss_mix",
    "sblrc-blr",
)


def _vars(name: str) -> list[str]:
    """Parameters whose minimum bulk ESS is reported (the same names in both libraries)."""
    if name == "gaussian_100":
        return ["x"]
    if name == "eight_schools":
        return ["mu", "tau", "theta"]
    import geobayes

    return list(geobayes.models.get(name).params)


_GEOBAYES = """
import time, json, sys
if {hide_dask!r}:  # a core install has no dask; xarray imports it on the first DataArray
    sys.modules["dask"] = None
import numpy as np
import geobayes
name, method = {name!r}, {method!r}
model = geobayes.models.gaussian(dim=100) if name == "gaussian_100" else geobayes.models.get(name)
kw = dict(method=method, chains=4, draws=1000, warmup=1000, progress=False,
          log_likelihood=False)
tr = geobayes.sample(model, seed={seed}, **kw)
t_first = time.time()
t1 = time.perf_counter()
tr2 = geobayes.sample(model, seed={seed} + 1000, **kw)
t_call = time.perf_counter() - t1
import arviz as az  # after the timings, as on the NumPyro side
VARS = {vars!r}
def min_ess(t):
    return min(float(np.min(np.asarray(az.ess(t.posterior[k].values, method="bulk"))))
               for k in VARS)
means = [float(v) for k in VARS for v in np.ravel(tr.posterior[k].mean(("chain", "draw")))]
sds = [float(v) for k in VARS for v in np.ravel(tr.posterior[k].std(("chain", "draw")))]
print(json.dumps({{"t_first": t_first, "call_s": t_call, "ess_first": min_ess(tr), "means": means,
                  "sds": sds,
                  "ess_call": min_ess(tr2),
                  "grads": int(tr.sample_stats["n_steps"].values.sum())}}))
"""

_NUMPYRO = """
import time, json, os
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
cache = os.environ.get("NUTSBENCH_JAX_CACHE")
if cache:
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
import numpyro, numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
name = {name!r}
import json as _json
from importlib.resources import files
from numpyro.distributions import constraints
import jax.numpy as jnp
def _data(n):
    return _json.loads(files("geobayes.models").joinpath("data", n + ".json").read_text())
def flat(name_, support=constraints.real, shape=()):
    return numpyro.sample(name_, dist.ImproperUniform(support, (), shape))
def gaussian_100():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([100]))
def eight_schools():
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", 8):
        z = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        numpyro.deterministic("theta", mu + tau * z)
        numpyro.sample("obs", dist.Normal(mu + tau * z, sigma), obs=y)
def ark():
    d = _data("arK-arK"); K = d["K"]; y = jnp.asarray(d["y"]); T = len(d["y"])
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    lags = jnp.stack([y[K - k - 1 : T - k - 1] for k in range(K)], axis=1)
    numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=y[K:])
def garch11():
    d = _data("garch-garch11"); y = jnp.asarray(d["y"])
    mu = flat("mu")
    alpha0 = flat("alpha0", constraints.positive)
    alpha1 = numpyro.sample("alpha1", dist.Uniform(0.0, 1.0))
    # beta1 ~ flat on (0, 1 - alpha1): an ImproperUniform with that support keeps the bound
    # of the initial alpha1 (a different posterior); as Stan, scale a unit-interval variable
    u = flat("beta1_unit", constraints.unit_interval)
    beta1 = numpyro.deterministic("beta1", (1.0 - alpha1) * u)
    numpyro.factor("beta1_jacobian", jnp.log1p(-alpha1))
    def step(s_prev, y_prev):
        s = jnp.sqrt(alpha0 + alpha1 * (y_prev - mu) ** 2 + beta1 * s_prev**2)
        return s, s
    _, sig = jax.lax.scan(step, jnp.asarray(d["sigma1"], dtype=y.dtype), y[:-1])
    sig = jnp.concatenate([jnp.asarray([d["sigma1"]], dtype=y.dtype), sig])
    numpyro.sample("y", dist.Normal(mu, sig), obs=y)
def gp_pois_regr():
    d = _data("gp_pois_regr-gp_pois_regr"); x = jnp.asarray(d["x"], dtype=float)
    k = jnp.asarray(d["k"]); n = x.shape[0]
    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([n]))
    cov = alpha**2 * jnp.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / rho**2)
    f = jnp.linalg.cholesky(cov + 1e-10 * jnp.eye(n)) @ f_tilde
    numpyro.sample("k", dist.Poisson(jnp.exp(f)), obs=k)
def kidscore_interaction():
    d = _data("kidiq-kidscore_interaction")
    hs = jnp.asarray(d["mom_hs"], dtype=float); iq = jnp.asarray(d["mom_iq"], dtype=float)
    beta = flat("beta", shape=(4,))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    mu = beta[0] + beta[1] * hs + beta[2] * iq + beta[3] * hs * iq
    numpyro.sample("y", dist.Normal(mu, sigma), obs=jnp.asarray(d["kid_score"], dtype=float))
def kilpisjarvi():
    d = _data("kilpisjarvi_mod-kilpisjarvi"); x = jnp.asarray(d["x"], dtype=float)
    alpha = numpyro.sample("alpha", dist.Normal(d["pmualpha"], d["psalpha"]))
    beta = numpyro.sample("beta", dist.Normal(d["pmubeta"], d["psbeta"]))
    sigma = flat("sigma", constraints.positive)
    numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=jnp.asarray(d["y"]))
def low_dim_gauss_mix():
    d = _data("low_dim_gauss_mix-low_dim_gauss_mix"); y = jnp.asarray(d["y"])
    mu = flat("mu", constraints.ordered_vector, (2,))
    numpyro.factor("mu_prior", dist.Normal(0.0, 2.0).log_prob(mu).sum())
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    lp1 = jnp.log(theta) + dist.Normal(mu[0], sigma[0]).log_prob(y)
    lp2 = jnp.log1p(-theta) + dist.Normal(mu[1], sigma[1]).log_prob(y)
    numpyro.factor("lik", jnp.logaddexp(lp1, lp2).sum())
def blr():
    d = _data("sblrc-blr"); X = jnp.asarray(d["X"]); y = jnp.asarray(d["y"])
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([X.shape[1]]))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    numpyro.sample("y", dist.Normal(X @ beta, sigma), obs=y)
model = {{"gaussian_100": gaussian_100, "eight_schools": eight_schools, "arK-arK": ark,
          "garch-garch11": garch11, "gp_pois_regr-gp_pois_regr": gp_pois_regr,
          "kidiq-kidscore_interaction": kidscore_interaction,
          "kilpisjarvi_mod-kilpisjarvi": kilpisjarvi,
          "low_dim_gauss_mix-low_dim_gauss_mix": low_dim_gauss_mix, "sblrc-blr": blr}}[name]
VARS = {vars!r}
def go(seed):
    mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
                chain_method="vectorized", progress_bar=False, jit_model_args=True)
    mcmc.run(jax.random.PRNGKey(seed))
    s = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(s)
    return mcmc, s
mcmc, s1 = go({seed})  # jit_model_args: the second run below reuses the compiled sampler
t_first = time.time()
t1 = time.perf_counter()
mcmc.run(jax.random.PRNGKey({seed} + 1000))
s2 = mcmc.get_samples(group_by_chain=True)
jax.block_until_ready(s2)
t_call = time.perf_counter() - t1
import arviz as az
def min_ess(s):
    return min(float(np.min(np.asarray(az.ess(np.asarray(s[k]), method="bulk"))))
               for k in VARS)
means = [float(v) for k in VARS for v in np.ravel(np.asarray(s1[k]).mean((0, 1)))]
sds = [float(v) for k in VARS for v in np.ravel(np.asarray(s1[k]).std((0, 1)))]
print(json.dumps({{"t_first": t_first, "call_s": t_call, "ess_first": min_ess(s1), "means": means,
                  "sds": sds,
                  "ess_call": min_ess(s2)}}))
"""


def _proc(code: str, env=None) -> dict:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = res.pop("t_first") - t0
    return res


def _mean_diff(rs, ref_runs):
    """Largest |mean - geobayes NUTS mean| in geobayes NUTS posterior sds (runs averaged):
    a check that both libraries sample the same posterior (MC error ~0.03 sd)."""
    if not ref_runs or "sds" not in ref_runs[0]:
        return float("nan")
    import numpy as np

    m = np.mean([r["means"] for r in rs], axis=0)
    m0 = np.mean([r["means"] for r in ref_runs], axis=0)
    sd = np.mean([r["sds"] for r in ref_runs], axis=0)
    return float(np.max(np.abs(m - m0) / sd))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(
    models=MODELS,
    repeats=3,
    numpyro=True,
    methods=("nuts", "hmc", "mala"),
    partial=None,
    hide_dask=True,
    cache_off=True,
) -> list[dict]:
    """Median timings per (model, sampler); each row also lists the individual runs."""
    have = numpyro and importlib.util.find_spec("numpyro") is not None
    cache_dir = tempfile.mkdtemp(prefix="nutsbench_jax_cache_")
    env_cache = dict(os.environ, NUTSBENCH_JAX_CACHE=cache_dir)
    rows = []
    for name in models:
        runs: dict[str, list[dict]] = {}
        v = _vars(name)

        def jobs(seed, v=v, name=name):
            out = [
                (f"geobayes {m.upper()}",
                 _GEOBAYES.format(name=name, method=m, vars=v, seed=seed, hide_dask=hide_dask),
                 None)
                for m in methods
            ]  # fmt: skip
            if have:
                code = _NUMPYRO.format(name=name, vars=v, seed=seed)
                out.append(("numpyro NUTS", code, None))
                out.append(("numpyro NUTS+cache", code, env_cache))
            return out

        try:  # warm the Numba cache and the JAX persistent cache (untimed)
            warm = jobs(99)
            for _label, code, _env in warm[: len(methods)]:
                _proc(code)
            if have:
                _proc(warm[-1][1], env=env_cache)
        except RuntimeError as exc:
            print(f"  {name}: skipped, warm-up failed: {exc}", file=sys.stderr)
            continue
        for rep in range(repeats):  # seed = rep for every sampler; order alternates
            order = jobs(rep) if rep % 2 == 0 else jobs(rep)[::-1]
            for label, code, env in order:
                if not cache_off and env is None and label == "numpyro NUTS":
                    continue
                r = _proc(code, env=env)
                r["load"] = _load()
                r["seed"] = rep
                runs.setdefault(label, []).append(r)
                print(f"  {name} {label} rep {rep}: {json.dumps(r)}", file=sys.stderr)
        for label, rs in runs.items():

            def med(k, rs=rs):
                return statistics.median(r[k] for r in rs)

            rows.append(
                {
                    "model": name,
                    "sampler": label,
                    "process_s": med("process_s"),
                    "call_s": med("call_s"),
                    "min_ess": med("ess_first"),
                    "ess_per_process_s": med("ess_first") / med("process_s"),
                    "ess_per_call_s": med("ess_call") / med("call_s"),
                    "max_mean_diff_sd": _mean_diff(rs, runs.get("geobayes NUTS")),
                    "runs": rs,
                }
            )
        if partial:
            with open(partial, "w") as f:
                json.dump(rows, f, indent=1)
    return rows


def format_table(rows) -> str:
    lines = [
        f"{'model':<16} {'sampler':<20} {'process s':>9} {'call s':>8} {'min ESS':>8} "
        f"{'ESS/process s':>13} {'ESS/call s':>10} {'|dmean|/sd':>10}"
    ]
    for r in rows:
        lines.append(
            f"{r['model']:<16} {r['sampler']:<20} {r['process_s']:>9.2f} {r['call_s']:>8.3f} "
            f"{r['min_ess']:>8.0f} {r['ess_per_process_s']:>13.0f} {r['ess_per_call_s']:>10.0f} "
            f"{r.get('max_mean_diff_sd', float('nan')):>10.3f}"
        )
    return "\n".join(lines)


def format_ratios(rows) -> str:
    """geobayes NUTS over each other sampler, per model, for the three timings."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        by = {r["sampler"]: r for r in rows if r["model"] == name}
        g = by.get("geobayes NUTS")
        if g is None:
            continue
        for label, r in by.items():
            if label == "geobayes NUTS":
                continue
            rp = g["ess_per_process_s"] / r["ess_per_process_s"]
            rc = g["ess_per_call_s"] / r["ess_per_call_s"]
            out.append(
                f"{name:<16} NUTS / {label:<20} ESS/process s {rp:6.2f}x   ESS/call s {rc:8.2f}x"
            )
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-numpyro", action="store_true")
    p.add_argument("--methods", nargs="+", default=["nuts", "hmc", "mala"])
    p.add_argument("--out", default=None, help="write the rows as JSON")
    p.add_argument(
        "--with-dask",
        action="store_true",
        help="let xarray import dask in the geobayes process if installed (the dev extras "
        "have it; a core install does not: ~0.5-1 s at the first DataArray)",
    )
    p.add_argument(
        "--no-cache-off",
        action="store_true",
        help="skip the NumPyro runs with JAX's persistent cache off (the slowest rows)",
    )
    args = p.parse_args(argv)
    print(f"load average before: {_load()}  (cpus: {os.cpu_count()})")
    rows = run(
        args.models,
        args.repeats,
        numpyro=not args.no_numpyro,
        methods=args.methods,
        partial=args.out,
        hide_dask=not args.with_dask,
        cache_off=not args.no_cache_off,
    )
    print(format_table(rows))
    print()
    print(format_ratios(rows))
    print(f"load average after: {_load()}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
