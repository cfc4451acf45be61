"""geobayes beside NumPyro on the same posteriors, each in a fresh process.

For each model, a fresh Python process imports the library and draws 4 chains x (1000
warmup + 1000 draws): geobayes HMC (Numba cache warm, as after the first run) and
NumPyro NUTS (``chain_method="vectorized"``; JAX compiles on every new process).  Reported:
wall time of the whole process, time of the sampling call, the minimum bulk ESS over the
parameters and ESS per second of wall time.  NumPyro is optional (``pip install -e
".[peers]"``); without it only geobayes rows are printed.  Run: ``python -m benchmarks.peers``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time

__all__ = ["run"]

_GEOBAYES = """
import time, json
t0 = time.perf_counter()
import numpy as np, arviz as az, geobayes
name = {name!r}
model = geobayes.models.gaussian(dim=100) if name == "gaussian_100" else geobayes.models.get(name)
t1 = time.perf_counter()
tr = geobayes.sample(model, method="hmc", chains=4, draws=1000, warmup=1000, seed=0,
                     progress=False)
t2 = time.perf_counter()
ess = az.ess(tr, var_names=[v for v in tr.posterior.data_vars if v != "theta_trans"])
min_ess = min(float(ess[v].min()) for v in ess.data_vars)
print(json.dumps({{"sample_s": t2 - t1, "min_ess": min_ess}}))
"""

_NUMPYRO = """
import time, json
t0 = time.perf_counter()
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import numpyro, numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
import arviz as az
name = {name!r}
y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
sigma = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
def gaussian():
    numpyro.sample("x", dist.Normal(0.0, 1.0).expand([100]))
def eight_schools():
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", 8):
        z = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * z)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)
model = gaussian if name == "gaussian_100" else eight_schools
t1 = time.perf_counter()
mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
            chain_method="vectorized", progress_bar=False)
mcmc.run(jax.random.PRNGKey(0))
samples = mcmc.get_samples(group_by_chain=True)
jax.block_until_ready(samples)
t2 = time.perf_counter()
arrs = {{k: np.asarray(v) for k, v in samples.items() if k != "theta_trans"}}
ess = min(float(np.min(np.asarray(az.ess(v)))) for v in arrs.values())
print(json.dumps({{"sample_s": t2 - t1, "min_ess": ess}}))
"""


def _proc(code: str) -> dict:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    res["ess_per_wall_s"] = res["min_ess"] / wall
    return res


def run(models=("gaussian_100", "eight_schools_noncentered")) -> list[dict]:
    """One row per (model, library)."""
    have_numpyro = importlib.util.find_spec("numpyro") is not None
    rows = []
    for name in models:
        _proc(_GEOBAYES.format(name=name))  # warm the Numba cache
        rows.append(
            {"model": name, "library": "geobayes HMC", **_proc(_GEOBAYES.format(name=name))}
        )
        if have_numpyro:
            rows.append(
                {"model": name, "library": "numpyro NUTS", **_proc(_NUMPYRO.format(name=name))}
            )
    if not have_numpyro:
        print("numpyro is not installed: pip install -e '.[peers]' adds the NumPyro rows")
    return rows


def format_table(rows) -> str:
    lines = [
        f"{'model':<26} {'library':<13} {'wall s':>7} {'sample s':>9} {'min ESS':>8} "
        f"{'ESS/wall s':>10}"
    ]
    for r in rows:
        lines.append(
            f"{r['model']:<26} {r['library']:<13} {r['wall_s']:>7.2f} "
            f"{r['sample_s']:>9.3f} {r['min_ess']:>8.0f} {r['ess_per_wall_s']:>10.0f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run()))
