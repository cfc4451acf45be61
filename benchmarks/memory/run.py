"""Memory estimates against measured peaks (issue 17).

Every run that geobayes refuses for lack of memory is refused on an estimate made before
anything is allocated (:func:`geobayes._memory.require`).  This script checks those
estimates against the peak resident memory of real runs: each case runs in its own
process, first once at a tiny size (imports and Numba compilation, so that they are not
counted), then the peak counter is reset (``/proc/self/clear_refs``, Linux) and the real
run is made while every estimate passed to ``require`` is recorded.  The table gives the
largest estimate, the measured peak increase over the resident memory before the run,
and their ratio (> 1: the estimate is on the safe side).

Run: ``python -m benchmarks.memory.run [--out benchmarks/memory/RESULTS.md]`` (Linux).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys

CASES = {
    "nuts gaussian d=50, 4 chains x 40000 draws": (
        "sample",
        dict(model=("gaussian", {"dim": 50}), method="nuts", chains=4, draws=40000, warmup=100),
    ),
    "hmc eight_schools, 4 chains x 200000 draws (log-likelihood kept)": (
        "sample",
        dict(model=("eight_schools", {}), method="hmc", chains=4, draws=200000, warmup=100),
    ),
    "mala gaussian d=200, 2 chains x 50000 draws, warmup saved": (
        "sample",
        dict(
            model=("gaussian", {"dim": 200}),
            method="mala",
            chains=2,
            draws=50000,
            warmup=50000,
            save_warmup=True,
        ),
    ),
    "etkf lorenz96 N=100, 5000 cycles, store='ensemble'": (
        "filter",
        dict(model="lorenz96", method="etkf", ensemble_size=100, cycles=5000, store="ensemble"),
    ),
    "enkf lorenz63 N=1000, 2000 cycles, moments": (
        "filter",
        dict(model="lorenz63", method="enkf", ensemble_size=1000, cycles=2000, store="moments"),
    ),
    "etkf lorenz63 N=4000, 500 cycles, moments": (
        "filter",
        dict(model="lorenz63", method="etkf", ensemble_size=4000, cycles=500, store="moments"),
    ),
    "etkf lorenz63 N=2000 rotate, 100 cycles, moments": (
        "filter",
        dict(
            model="lorenz63",
            method="etkf",
            ensemble_size=2000,
            cycles=100,
            store="moments",
            rotate=True,
        ),
    ),
    "msip gaussian d=5, N=1500, 2 replicates": (
        "particles",
        dict(model=("gaussian", {"dim": 5}), method="msip", chains=2, n_particles=1500, n_steps=3),
    ),
    "shk gaussian d=10, N=20000, 2 replicates, particle_history": (
        "particles",
        dict(
            model=("gaussian", {"dim": 10}),
            method="shk",
            chains=2,
            n_particles=20000,
            n_steps=20,
            particle_history=True,
        ),
    ),
}


def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _record_estimates():
    """Patch every module that calls ``require`` so that the estimates are recorded."""
    import geobayes._memory as mem
    from geobayes import _particle_driver, _preflight, driver
    from geobayes.filters import api

    seen = []
    real = mem.require

    def require(nbytes, what, reduce):
        seen.append(float(nbytes))
        return real(nbytes, what, reduce)

    for module in (_preflight, _particle_driver, driver, api):
        module.require = require
    return seen


def _call(kind, spec, scale):
    import geobayes

    if kind == "filter":
        ssm = geobayes.filters.models.get(spec["model"])
        cycles = spec["cycles"] if scale else 20
        _, y = ssm.simulate(cycles, seed=0)
        extra = {k: v for k, v in spec.items() if k == "rotate"}
        return lambda: geobayes.filter(
            ssm,
            y,
            method=spec["method"],
            ensemble_size=spec["ensemble_size"],
            store=spec["store"],
            seed=1,
            progress=False,
            **extra,
        )
    name, kw = spec["model"]
    model = geobayes.models.get(name, **kw)
    rest = {k: v for k, v in spec.items() if k not in ("model",)}
    if kind == "sample":
        if not scale:
            rest.update(draws=20, warmup=20, chains=1)
        return lambda: geobayes.sample(model, seed=0, progress=False, **rest)
    if not scale:
        rest.update(n_particles=50, n_steps=2, chains=1)
    return lambda: geobayes.sample(model, seed=0, progress=False, **rest)


def _child(label: str) -> None:
    kind, spec = CASES[label]
    _call(kind, spec, scale=False)()  # imports and compilation, not counted
    seen = _record_estimates()
    run = _call(kind, spec, scale=True)
    gc.collect()
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak resident size (VmHWM) to the current one
    out = run()
    peak = _status("VmHWM")
    del out
    print(json.dumps({"estimate": max(seen) if seen else None, "peak": peak - before}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the Markdown table here as well")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return 0
    rows = ["| run | estimate (MiB) | measured peak (MiB) | estimate / peak |", "|---|---|---|---|"]
    for label in CASES:
        res = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory.run", "--child", label],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(res.stdout.strip().splitlines()[-1])
        est, peak = r["estimate"], r["peak"]
        rows.append(
            f"| {label} | {est / 2**20:.1f} | {peak / 2**20:.1f} | {est / max(peak, 1):.2f} |"
        )
        print(rows[-1], flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
