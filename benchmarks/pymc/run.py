"""PyMC models in geobayes: gradient overhead, compile time, ESS per second.

Run: ``.venv/bin/python -m benchmarks.pymc.run [--part gradient compile ess] [--models ...]``
(nutpie is optional: ``pip install nutpie`` to include it).  Results go to
``benchmarks/pymc/results.json`` and are summarized in ``RESULTS.md``.

* gradient: seconds per gradient inside geobayes HMC (``sampling_time /
  n_gradient_evals``, one chain, one thread) over one bare call of the PyTensor-compiled
  Numba function (``fn.vm.jit_fn`` called in a jitted loop with the data arrays, the
  fastest way to call it); both sides alternated, best of ``--repeats``.
* compile: model compile time in a fresh process each (geobayes ``Model.from_pymc``,
  ``nutpie.compile_pymc_model``, PyMC's ``logp_dlogp_function`` + first call, as
  ``pm.sample`` needs), twice: the second process finds PyTensor's and Numba's disk caches.
* ess: min bulk ESS over the free variables per second of sampling, compilation
  excluded, for geobayes (NUTS if available, else HMC), nutpie and ``pm.sample``, 4 chains
  x 1000 draws after 1000 warmup; wall and CPU (process) seconds, since the machine is
  shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _bare_loop():
    import numba

    @numba.njit
    def loop(f, x, n, args):
        s = 0.0
        for _ in range(n):
            x[0] += 1e-12
            out = f(x, *args)
            s += out[0].item()
        return s

    return loop


def gradient(name, repeats, draws):
    import geobayes
    from benchmarks.pymc.models import MODELS

    model = geobayes.Model.from_pymc(MODELS[name]())
    b = model._builder
    jit_fn = b.jit_fns["lpg"]
    args = tuple(np.ascontiguousarray(v) for v in b.node_values())
    args = tuple(
        v.astype(np.int64) if v.dtype.kind in "biu" else v.astype(np.float64) for v in args
    )
    loop = _bare_loop()
    x = model.initial_point(np.random.default_rng(0))
    loop(jit_fn, x.copy(), 10, args)
    geobayes.sample(
        model, draws=20, warmup=20, chains=1, cores=1, seed=0, progress=False, log_likelihood=False
    )
    bare, hmc = [], []
    for r in range(repeats):
        n = 20000 if model.dim < 50 else 2000
        t0 = time.perf_counter()
        loop(jit_fn, x.copy(), n, args)
        bare.append((time.perf_counter() - t0) / n)
        tr = geobayes.sample(
            model,
            method="hmc",
            draws=draws,
            warmup=draws,
            chains=1,
            cores=1,
            seed=r,
            progress=False,
            log_likelihood=False,
        )
        hmc.append(tr.attrs["sampling_time"] / tr.attrs["n_gradient_evals"])
    return {
        "bare_us": 1e6 * min(bare),
        "hmc_per_grad_us": 1e6 * min(hmc),
        "ratio": min(hmc) / min(bare),
        "bare_all_us": [1e6 * v for v in bare],
        "hmc_all_us": [1e6 * v for v in hmc],
    }


_COMPILE_SNIPPETS = {
    "geobayes": (
        "import geobayes\n"
        "t0 = time.perf_counter(); m = geobayes.Model.from_pymc(model)\n"
        "m.logdensity_and_grad(m.initial_point(np.random.default_rng(0)))\n"
        "out = time.perf_counter() - t0\n"
    ),
    "nutpie": (
        "import nutpie\n"
        "t0 = time.perf_counter(); c = nutpie.compile_pymc_model(model)\n"
        "out = time.perf_counter() - t0\n"
    ),
    "pymc": (
        "t0 = time.perf_counter()\n"
        "f = model.logp_dlogp_function(ravel_inputs=True)\n"
        "f.set_extra_values({})\n"
        "ip = model.initial_point()\n"
        "x = np.concatenate([np.ravel(ip[v.name]) for v in model.value_vars])\n"
        "f(x)\n"
        "out = time.perf_counter() - t0\n"
    ),
}


def compile_times(name):
    res = {}
    for tool, snippet in _COMPILE_SNIPPETS.items():
        if tool == "nutpie" and not _has("nutpie"):
            continue
        code = (
            "import time, numpy as np, sys\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from benchmarks.pymc.models import MODELS\n"
            f"model = MODELS[{name!r}]()\n" + snippet + "print(out)\n"
        )
        times = []
        for _ in range(2):
            p = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=False
            )
            if p.returncode:
                times.append(None)
                print(p.stderr[-2000:], file=sys.stderr)
            else:
                times.append(float(p.stdout.strip().splitlines()[-1]))
        res[tool] = {"first_process_s": times[0], "second_process_s": times[1]}
    return res


def _has(mod):
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def _min_ess(posterior, names):
    import arviz as az

    ess = az.ess(
        posterior[names] if hasattr(posterior, "__getitem__") else posterior, method="bulk"
    )
    return float(min(float(np.min(ess[v].values)) for v in names))


def ess(name, draws, seed=1):
    import pymc as pm

    import geobayes
    from benchmarks.pymc.models import MODELS
    from geobayes.samplers import METHODS

    method = "nuts" if "nuts" in METHODS else "hmc"
    res = {"geobayes_method": method}
    pm_model = MODELS[name]()
    free = [rv.name for rv in pm_model.free_RVs]

    model = geobayes.Model.from_pymc(pm_model)
    geobayes.sample(
        model,
        method=method,
        draws=10,
        warmup=10,
        chains=1,
        seed=0,
        progress=False,
        log_likelihood=False,
    )  # compile everything first
    c0, w0 = time.process_time(), time.perf_counter()
    tr = geobayes.sample(
        model,
        method=method,
        draws=draws,
        warmup=draws,
        chains=4,
        cores=2,
        seed=seed,
        progress=False,
        log_likelihood=False,
    )
    c1, w1 = time.process_time(), time.perf_counter()
    e = _min_ess(tr.posterior, free)
    res["geobayes"] = {
        "min_ess": e,
        "wall_s": tr.attrs["sampling_time"],
        "cpu_s": c1 - c0,
        "call_wall_s": w1 - w0,
        "ess_per_s": e / tr.attrs["sampling_time"],
        "ess_per_cpu_s": e / (c1 - c0),
    }

    if _has("nutpie"):
        import nutpie

        compiled = nutpie.compile_pymc_model(pm_model)
        nutpie.sample(compiled, draws=10, tune=10, chains=1, cores=1, seed=0, progress_bar=False)
        c0, w0 = time.process_time(), time.perf_counter()
        tr = nutpie.sample(
            compiled, draws=draws, tune=draws, chains=4, cores=2, seed=seed, progress_bar=False
        )
        c1, w1 = time.process_time(), time.perf_counter()
        e = _min_ess(tr.posterior, free)
        res["nutpie"] = {
            "min_ess": e,
            "wall_s": w1 - w0,
            "cpu_s": c1 - c0,
            "ess_per_s": e / (w1 - w0),
            "ess_per_cpu_s": e / (c1 - c0),
        }

    # pm.sample: one process (cores=1) so that its CPU time is measurable; its own
    # sampling_time attribute excludes compilation
    c0 = time.process_time()
    idata = pm.sample(
        model=pm_model,
        draws=draws,
        tune=draws,
        chains=4,
        cores=1,
        random_seed=seed,
        progressbar=False,
        compute_convergence_checks=False,
    )
    c1 = time.process_time()
    e = _min_ess(idata.posterior, free)
    st = float(idata.posterior.attrs["sampling_time"])
    res["pymc"] = {
        "min_ess": e,
        "wall_s": st,
        "cpu_s_incl_compile": c1 - c0,
        "ess_per_s": e / st,
        "note": "cores=1: chains run one after another",
    }
    return res


def main(argv=None):
    from benchmarks.pymc.models import MODELS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", nargs="*", default=["gradient", "compile", "ess"])
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args(argv)
    path = Path(args.out)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results["load_before"] = os.getloadavg()
    for name in args.models:
        r = results.setdefault(name, {})
        if "gradient" in args.part:
            r["gradient"] = gradient(name, args.repeats, draws=max(200, args.draws // 2))
            print(name, "gradient", json.dumps(r["gradient"]), flush=True)
        if "compile" in args.part:
            r["compile"] = compile_times(name)
            print(name, "compile", json.dumps(r["compile"]), flush=True)
        if "ess" in args.part:
            r["ess"] = ess(name, args.draws)
            print(name, "ess", json.dumps(r["ess"]), flush=True)
        path.write_text(json.dumps(results, indent=1))
    results["load_after"] = os.getloadavg()
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
