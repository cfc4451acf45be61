"""PyMC models in geobayes: gradient overhead, compile time, ESS per second.

Run: ``.venv/bin/python -m benchmarks.pymc.run [--part gradient compile ess] [--models ...]``
(nutpie is optional: ``pip install nutpie`` to include it).  Results go to
``benchmarks/pymc/results.json`` and are summarized in ``RESULTS.md``.

* gradient: CPU seconds per gradient inside geobayes HMC (one chain, one thread; the
  CPU-time difference of two ``geobayes.sample`` calls differing only in ``draws`` over
  their difference in ``n_gradient_evals``, so fixed costs cancel) over one bare
  call of the PyTensor-compiled Numba function (``fn.vm.jit_fn`` called in a jitted loop
  with the data arrays, the fastest way to call it); both sides alternated, medians of
  ``--repeats`` (best of them in ``ratio_best``); also the wrapper called through the
  ``LPG`` function type as the kernels call it (``lpg_call_us``).  CPU time, not wall
  time, because the machine is shared.  Also: the same per-gradient difference for the
  sampling loop alone (``hmc_loop_per_grad_us``, ``ratio_loop``: the kernels, without
  the per-draw trace building -- constrained values, deterministics, ArviZ conversion),
  and the bare call at the points an HMC chain visits (``bare_at_hmc_points_us``,
  ``ratio_loop_at_points``): at one fixed point the model runs faster than at the
  sampler's points.
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


def _points_loop():
    """The loop of :func:`_bare_loop` over given points (rows of ``xs``, cycled)."""
    import numba

    @numba.njit
    def loop(f, xs, n, args):
        s = 0.0
        m = xs.shape[0]
        for k in range(n):
            out = f(xs[k % m], *args)
            s += out[0].item()
        return s

    return loop


def _hmc_points(model, n, seed=0):
    """``n`` unconstrained points an adapted geobayes HMC chain visits (its draws)."""
    import geobayes
    import geobayes._chain_driver as driver

    seen = []
    orig = driver.build_trace

    def capture(model_, method, positions, *args, **kwargs):
        seen.append(np.array(positions[0]))
        return orig(model_, method, positions, *args, **kwargs)

    driver.build_trace = capture
    try:
        geobayes.sample(
            model, draws=n, warmup=500, chains=1, cores=1, seed=seed, progress=False,
            log_likelihood=False,
        )  # fmt: skip
    finally:
        driver.build_trace = orig
    return np.ascontiguousarray(seen[0])


def _lpg_loop():
    """The loop of :func:`_bare_loop` calling through the ``LPG`` type, as the kernels do."""
    import numba

    from geobayes.types import LPG

    f64 = numba.float64[::1]

    @numba.njit(numba.float64(LPG, f64, numba.int64, f64, numba.int64[::1]))
    def loop(f, x, n, fdata, idata):
        s = 0.0
        for _ in range(n):
            x[0] += 1e-12
            lp, g = f(x, fdata, idata)
            s += lp + g[0]
        return s

    return loop


class _LoopTimer:
    """CPU seconds spent in the driver's sampling loop (``run_units``: the jitted chunks).

    Wraps ``geobayes._chain_driver.run_units`` for the duration of a ``with`` block, so a
    ``geobayes.sample`` call's CPU time splits into the sampling loop (the kernels: HMC
    and the gradients) and the rest (setup and building the trace: constrained values,
    deterministics, the ArviZ conversion, all once per draw, not per gradient).
    """

    def __init__(self):
        self.cpu = 0.0

    def __enter__(self):
        import geobayes._chain_driver as driver

        self._driver, self._orig = driver, driver.run_units

        def timed(*args, **kwargs):
            t0 = time.process_time()
            try:
                return self._orig(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - t0

        driver.run_units = timed
        return self

    def __exit__(self, *exc):
        self._driver.run_units = self._orig


def _hmc_cpu_per_grad(model, draws, seed, method="hmc", loop=False):
    """CPU seconds per gradient of geobayes HMC, fixed costs cancelled.

    Two runs differing only in ``draws`` (same warmup, one chain, one thread): the
    difference of their CPU times over the difference of their gradient counts, so the
    per-call costs (setup, step-size search) drop out.  The whole ``geobayes.sample``
    call (end to end: the per-draw trace building counts); with ``loop=True`` also the
    same difference for the sampling loop alone (see :class:`_LoopTimer`), returned as
    ``(end_to_end, loop)``.
    """
    import geobayes

    cpu, loop_cpu, grads = [], [], []
    for n in (draws // 10, draws):
        with _LoopTimer() as lt:
            t0 = time.process_time()
            tr = geobayes.sample(
                model,
                method=method,
                draws=n,
                warmup=200,
                chains=1,
                cores=1,
                seed=seed,
                progress=False,
                log_likelihood=False,
            )
            cpu.append(time.process_time() - t0)
        loop_cpu.append(lt.cpu)
        grads.append(tr.attrs["n_gradient_evals"])
    dg = grads[1] - grads[0]
    e2e = (cpu[1] - cpu[0]) / dg
    if loop:
        return e2e, (loop_cpu[1] - loop_cpu[0]) / dg
    return e2e


def gradient(name, repeats, draws):
    import geobayes
    from benchmarks.pymc.models import MODELS

    model = geobayes.Model.from_pymc(MODELS[name]())
    b = model._builder
    jit_fn = b.jit_fns["lpg"]
    # the wrapper's input types (np.ascontiguousarray would make a 0-d input 1-d and so
    # time another specialisation of PyTensor's function)
    args = tuple(
        np.require(v, np.int64 if v.dtype.kind in "biu" else np.float64, "C")
        for v in b.node_values()
    )
    loop = _bare_loop()
    x = model.initial_point(np.random.default_rng(0))
    loop(jit_fn, x.copy(), 10, args)
    t0 = time.process_time()
    loop(jit_fn, x.copy(), 100, args)
    per_call = (time.process_time() - t0) / 100
    # about 2 CPU seconds of gradients in the long HMC run, 1 s in the bare loop
    n_bare = int(max(100, 1.0 / max(per_call, 1e-7)))
    n_draws = int(max(2000, draws, 2.0 / max(per_call, 1e-7) / 10))
    geobayes.sample(
        model, draws=20, warmup=20, chains=1, cores=1, seed=0, progress=False, log_likelihood=False
    )
    wrapped_args = (model.fdata, model.idata)
    loop(model.lpg, x.copy(), 10, wrapped_args)
    lpg_loop = _lpg_loop()
    builtin = geobayes.models.get("eight_schools") if name == "eight_schools" else None
    if builtin is not None:
        bargs = (builtin.fdata, builtin.idata)
        loop(builtin.lpg, x.copy(), 10, bargs)
    _hmc_cpu_per_grad(model, n_draws // 10, seed=0)  # first calls' one-time costs
    # the bare call also at the points HMC visits (a fixed point lets the model's branches
    # and libm calls run perfectly predicted: a lower cost than at the sampler's points)
    xs = _hmc_points(model, 2000)
    pts_loop = _points_loop()
    pts_loop(jit_fn, xs, 10, args)
    bare, wrapped, typed, hmc, b_bare, b_hmc = [], [], [], [], [], []
    hmc_loop, b_loop, bare_pts = [], [], []
    for r in range(repeats):
        t0 = time.process_time()
        loop(jit_fn, x.copy(), n_bare, args)
        bare.append((time.process_time() - t0) / n_bare)
        t0 = time.process_time()
        pts_loop(jit_fn, xs, n_bare, args)
        bare_pts.append((time.process_time() - t0) / n_bare)
        t0 = time.process_time()
        loop(model.lpg, x.copy(), n_bare, wrapped_args)
        wrapped.append((time.process_time() - t0) / n_bare)
        t0 = time.process_time()
        lpg_loop(model.lpg, x.copy(), n_bare, *wrapped_args)
        typed.append((time.process_time() - t0) / n_bare)
        e2e, in_loop = _hmc_cpu_per_grad(model, n_draws, seed=r, loop=True)
        hmc.append(e2e)
        hmc_loop.append(in_loop)
        if builtin is not None:  # the hand-written model: HMC's own cost per gradient
            t0 = time.process_time()
            loop(builtin.lpg, x.copy(), n_bare, bargs)
            b_bare.append((time.process_time() - t0) / n_bare)
            e2e, in_loop = _hmc_cpu_per_grad(builtin, n_draws, seed=r, loop=True)
            b_hmc.append(e2e)
            b_loop.append(in_loop)
    # medians: a difference of two CPU times can come out low (or negative) when the
    # short run is disturbed, so the minimum of the HMC side is not a safe "best"
    out = {
        "bare_us": 1e6 * min(bare),
        "wrapper_us": 1e6 * min(wrapped),
        "hmc_per_grad_us": 1e6 * float(np.median(hmc)),
        "ratio": float(np.median(hmc)) / float(np.median(bare)),
        "ratio_best": min(h for h in hmc if h > 0) / min(bare),
        "bare_median_us": 1e6 * float(np.median(bare)),
        "wrapper_median_us": 1e6 * float(np.median(wrapped)),
        "lpg_call_us": 1e6 * min(typed),
        "lpg_call_median_us": 1e6 * float(np.median(typed)),
        "ratio_pairs": [h / b for h, b in zip(hmc, bare, strict=True)],
        "bare_all_us": [1e6 * v for v in bare],
        "hmc_all_us": [1e6 * v for v in hmc],
        "hmc_draws": n_draws,
        # the sampling loop alone (the kernels), without the per-draw trace building
        "hmc_loop_per_grad_us": 1e6 * float(np.median(hmc_loop)),
        "ratio_loop": float(np.median(hmc_loop)) / float(np.median(bare)),
        "ratio_loop_best": min(h for h in hmc_loop if h > 0) / min(bare),
        "hmc_loop_all_us": [1e6 * v for v in hmc_loop],
        # the bare call at HMC's own points, and the ratios over it
        "bare_at_hmc_points_us": 1e6 * min(bare_pts),
        "bare_at_hmc_points_median_us": 1e6 * float(np.median(bare_pts)),
        "ratio_at_points": float(np.median(hmc)) / float(np.median(bare_pts)),
        "ratio_loop_at_points": float(np.median(hmc_loop)) / float(np.median(bare_pts)),
        "ratio_loop_at_points_best": min(h for h in hmc_loop if h > 0) / min(bare_pts),
    }
    if builtin is not None:
        out["builtin_bare_us"] = 1e6 * min(b_bare)
        out["builtin_hmc_per_grad_us"] = 1e6 * float(np.median(b_hmc))
        out["builtin_hmc_minus_bare_us"] = 1e6 * float(np.median(b_hmc) - np.median(b_bare))
        out["builtin_hmc_loop_per_grad_us"] = 1e6 * float(np.median(b_loop))
        out["builtin_loop_minus_bare_us"] = 1e6 * float(np.median(b_loop) - np.median(b_bare))
    return out


def floor(name, repeats, draws):
    """The floor of the gradient-overhead ratio: HMC's own work per gradient.

    The same HMC measurement as :func:`gradient` on a *null* model of the same dimension
    (log density 0, gradient a fresh zero vector: the allocation a compiled model makes
    too), with a fixed step size and metric (a flat density would send dual averaging to
    huge steps): per-gradient CPU time of HMC minus one bare call of the null function is
    the leapfrog arithmetic and the step's bookkeeping.  With the bare PyTensor call
    ``b`` and the data-unpacking wrapper ``w`` of the PyMC model, the floor of the ratio
    is ``(w + hmc_own) / b`` (``(b + hmc_own) / b`` if unpacking were free).
    """
    import numba

    import geobayes
    from benchmarks.pymc.models import MODELS
    from geobayes.samplers import HMC

    model = geobayes.Model.from_pymc(MODELS[name]())
    d = model.dim

    @numba.njit
    def null_lpg(theta, fdata, idata):
        return 0.0, np.zeros(theta.shape[0])

    null = geobayes.Model(
        null_lpg,
        {"x": (d,)},
        name="null",
        data=(np.zeros(1), np.zeros(1, dtype=np.int64)),
        description=f"log density 0, gradient 0, dim {d}",
    )
    # 5 leapfrog steps per transition on average (jittered 2.5-7.5), as the eight-schools
    # runs take (4.5-5): the per-transition costs weigh as they do there (the runs up to
    # 2026-12-02 02:00 took 20 steps, which spread them over 4x more gradients)
    method = HMC(
        step_size=0.1, integration_time=0.5, adapt_step_size=False, adapt_mass_matrix=False
    )
    loop = _bare_loop()
    x = np.zeros(d)
    args = (null.fdata, null.idata)
    loop(null.lpg, x.copy(), 10, args)
    _hmc_cpu_per_grad(null, draws, seed=0, method=method)  # first calls' one-time costs
    n_bare = 2_000_000
    bare, hmc, hmc_loop = [], [], []
    for r in range(repeats):
        t0 = time.process_time()
        loop(null.lpg, x.copy(), n_bare, args)
        bare.append((time.process_time() - t0) / n_bare)
        e2e, in_loop = _hmc_cpu_per_grad(null, draws, seed=r, method=method, loop=True)
        hmc.append(e2e)
        hmc_loop.append(in_loop)
    return {
        "dim": d,
        "null_bare_us": 1e6 * min(bare),
        "null_hmc_per_grad_us": 1e6 * min(hmc),
        "hmc_own_us": 1e6 * (min(hmc) - min(bare)),
        "bare_all_us": [1e6 * v for v in bare],
        "hmc_all_us": [1e6 * v for v in hmc],
        "null_hmc_loop_per_grad_us": 1e6 * min(hmc_loop),
        "hmc_own_loop_us": 1e6 * (min(hmc_loop) - min(bare)),
        "leapfrog_per_draw": method.integration_time / method.step_size,
    }


_COMPILE_SNIPPETS = {
    "geobayes": (
        "import geobayes\n"
        "t0 = time.perf_counter(); c0 = time.process_time(); m = geobayes.Model.from_pymc(model)\n"
        "m.logdensity_and_grad(m.initial_point(np.random.default_rng(0)))\n"
        "out = (time.perf_counter() - t0, time.process_time() - c0)\n"
    ),
    "nutpie": (
        "import nutpie\n"
        "t0 = time.perf_counter(); c0 = time.process_time(); c = nutpie.compile_pymc_model(model)\n"
        "out = (time.perf_counter() - t0, time.process_time() - c0)\n"
    ),
    "pymc": (
        "t0 = time.perf_counter(); c0 = time.process_time()\n"
        "f = model.logp_dlogp_function(ravel_inputs=True)\n"
        "f.set_extra_values({})\n"
        "ip = model.initial_point()\n"
        "x = np.concatenate([np.ravel(ip[v.name]) for v in model.value_vars])\n"
        "f(x)\n"
        "out = (time.perf_counter() - t0, time.process_time() - c0)\n"
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
            f"model = MODELS[{name!r}]()\n" + snippet + "print(*out)\n"
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
                times.append([float(v) for v in p.stdout.strip().splitlines()[-1].split()])
        res[tool] = {"first_process_wall_cpu_s": times[0], "second_process_wall_cpu_s": times[1]}
    return res


def _has(mod):
    import importlib.util

    return importlib.util.find_spec(mod) is not None


def _min_ess(posterior, names):
    import arviz as az

    ds = posterior.to_dataset() if hasattr(posterior, "to_dataset") else posterior
    ess = az.ess(ds[names], method="bulk")
    return float(min(float(np.min(ess[v].values)) for v in names))


def _median_run(runs):
    """The median (over runs) of every number; the runs themselves under ``runs``."""
    keys = runs[0].keys()
    out = {k: float(np.median([r[k] for r in runs])) for k in keys}
    out["runs"] = runs
    return out


def ess(name, draws, seed=1, peers=("nutpie", "pymc"), repeats=1, variants=None):
    """ESS per second; ``repeats`` > 1 alternates geobayes and nutpie over seeds
    ``seed .. seed + repeats - 1`` (order reversed every other repetition) and reports
    medians; ``pm.sample`` runs once.  ``variants`` (label -> method keyword arguments)
    adds geobayes sides with other settings of the method, e.g.
    ``{"geobayes single": {"step_size_adaptation": "single"}}``."""
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

    def run_geobayes(s, kwargs=None):
        c0, w0 = time.process_time(), time.perf_counter()
        tr = geobayes.sample(
            model,
            method=method,
            **(kwargs or {}),
            draws=draws,
            warmup=draws,
            chains=4,
            cores=2,
            seed=s,
            progress=False,
            log_likelihood=False,
        )
        c1, w1 = time.process_time(), time.perf_counter()
        e = _min_ess(tr.posterior, free)
        return {
            "min_ess": e,
            "wall_s": tr.attrs["sampling_time"],
            "cpu_s": c1 - c0,
            "call_wall_s": w1 - w0,
            "ess_per_s": e / tr.attrs["sampling_time"],
            "ess_per_cpu_s": e / (c1 - c0),
            "n_grad": float(tr.sample_stats["n_steps"].values.sum()),
        }

    sides = {"geobayes": run_geobayes}
    for label, kwargs in (variants or {}).items():
        sides[label] = lambda s, kwargs=kwargs: run_geobayes(s, kwargs)
    if "nutpie" in peers and _has("nutpie"):
        import nutpie

        compiled = nutpie.compile_pymc_model(pm_model)
        nutpie.sample(compiled, draws=10, tune=10, chains=1, cores=1, seed=0, progress_bar=False)

        def run_nutpie(s):
            c0, w0 = time.process_time(), time.perf_counter()
            tr = nutpie.sample(
                compiled, draws=draws, tune=draws, chains=4, cores=2, seed=s, progress_bar=False
            )
            c1, w1 = time.process_time(), time.perf_counter()
            e = _min_ess(tr.posterior, free)
            ss = tr.sample_stats
            n_grad = float(ss["n_steps"].values.sum()) if "n_steps" in ss else float("nan")
            return {
                "min_ess": e,
                "wall_s": w1 - w0,
                "cpu_s": c1 - c0,
                "ess_per_s": e / (w1 - w0),
                "ess_per_cpu_s": e / (c1 - c0),
                "n_grad": n_grad,
            }

        sides["nutpie"] = run_nutpie
    runs = {k: [] for k in sides}
    for rep in range(repeats):
        order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
        for k in order:
            runs[k].append(sides[k](seed + rep))
            print(name, k, "rep", rep, json.dumps(runs[k][-1]), file=sys.stderr, flush=True)
    for k, rs in runs.items():
        res[k] = _median_run(rs)

    if "pymc" not in peers:
        return res
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
        nuts_sampler="pymc",
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
    ap.add_argument("--ess-repeats", type=int, default=1, help="ess part: runs per side")
    ap.add_argument("--seed", type=int, default=1, help="ess part: first seed")
    ap.add_argument("--peers", nargs="*", default=["nutpie", "pymc"], help="ess part: peers run")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=JSON",
        help="ess part: one more geobayes side with these method keyword arguments, e.g. "
        """'single={"step_size_adaptation": "single"}' (repeatable)""",
    )
    args = ap.parse_args(argv)
    path = Path(args.out)
    results = json.loads(path.read_text()) if path.is_file() else {}
    results["load_before"] = os.getloadavg()
    for name in args.models:
        r = results.setdefault(name, {})
        if "gradient" in args.part:
            r["gradient"] = gradient(name, args.repeats, draws=max(200, args.draws // 2))
            print(name, "gradient", json.dumps(r["gradient"]), flush=True)
        if "floor" in args.part:
            r["floor"] = floor(name, args.repeats, draws=max(100_000, args.draws * 100))
            print(name, "floor", json.dumps(r["floor"]), flush=True)
        if "compile" in args.part:
            r["compile"] = compile_times(name)
            print(name, "compile", json.dumps(r["compile"]), flush=True)
        if "ess" in args.part:
            variants = {}
            for v in args.variant:
                label, _, kw = v.partition("=")
                variants["geobayes " + label] = json.loads(kw)
            r["ess"] = ess(
                name,
                args.draws,
                seed=args.seed,
                peers=args.peers,
                repeats=args.ess_repeats,
                variants=variants,
            )
            print(name, "ess", json.dumps(r["ess"]), flush=True)
        path.write_text(json.dumps(results, indent=1))
    results["load_after"] = os.getloadavg()
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
