"""Filter benchmarks: DAPPER's Sakov settings, geobayes against DAPPER in one invocation.

Usage (from the repository root)::

    .venv/bin/python benchmarks/filters/run.py              # full run, >= 5 seeds
    .venv/bin/python benchmarks/filters/run.py --quick      # 2 seeds, shorter runs
    .venv/bin/python benchmarks/filters/run.py --setup-dapper   # create DAPPER's venv first

DAPPER (1.7, PyPI) lives in its own virtual environment, by default
``benchmarks/.venvs/dapper`` (git-ignored).  ``--setup-dapper`` creates it with a
Python 3.11 found by itself: ``$DAPPER_BASE_PYTHON``, else ``python3.11`` on
PATH, else a pyenv 3.11 (``$PYENV_ROOT`` or ``~/.pyenv``).  Point
``$DAPPER_PYTHON`` at any interpreter that can ``import dapper`` to use another
environment; without one the DAPPER columns are left empty.

Every row is the median over seeds of DAPPER's ``rmse.a`` (time mean of the
per-cycle analysis RMSE after burn-in) and of the wall time per cycle (the
filter only: truth simulation and compilation excluded; kernels are warmed
first).  geobayes and DAPPER simulate their own truths from the same settings,
so RMSEs agree in distribution, not run by run.  Results go to
``benchmarks/filters/results.json`` and ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from geobayes.filters import ETKF, LETKF, EnKF, ParticleFilter, configs  # noqa: E402

DAPPER_VENV = ROOT / "benchmarks" / ".venvs" / "dapper"
#: the DAPPER side, shipped with the package (geobayes bench --filters --dapper PY uses it too)
DAPPER_WORKER = ROOT / "geobayes" / "bench" / "peers" / "dapper_worker.py"


# ----------------------------------------------------------------------------- suites
def suite(quick: bool):
    """(label, config kwargs, geobayes method, DAPPER job, reference rmse, Ko, burn-in cycles)."""
    ko = 300 if quick else 1000
    rows = [
        # Lorenz-63, Sakov 2012
        (
            "L63 ETKF N=3 infl 1.30",
            "sakov2012",
            3,
            ETKF(ensemble_size=3, inflation=1.30),
            ("EnKF", ["Sqrt"], dict(N=3, infl=1.30)),
            0.80,
        ),
        (
            "L63 ETKF N=10 infl 1.02 rot",
            "sakov2012",
            3,
            ETKF(ensemble_size=10, inflation=1.02, rotate=True),
            ("EnKF", ["Sqrt"], dict(N=10, infl=1.02, rot=True)),
            0.60,
        ),
        (
            "L63 EnKF N=10 infl 1.04",
            "sakov2012",
            3,
            EnKF(ensemble_size=10, inflation=1.04),
            ("EnKF", ["PertObs"], dict(N=10, infl=1.04)),
            0.65,
        ),
        (
            "L63 EnKF N=100 infl 1.01",
            "sakov2012",
            3,
            EnKF(ensemble_size=100, inflation=1.01),
            ("EnKF", ["PertObs"], dict(N=100, infl=1.01)),
            0.56,
        ),
        (
            "L63 PF N=100 reg 2.4 NER 0.3",
            "sakov2012",
            3,
            ParticleFilter(ensemble_size=100, regularization=2.4, resample_threshold=0.3),
            ("PartFilt", [], dict(N=100, reg=2.4, NER=0.3)),
            0.38,
        ),
        (
            "L63 PF N=800 reg 0.9 NER 0.2",
            "sakov2012",
            3,
            ParticleFilter(ensemble_size=800, regularization=0.9, resample_threshold=0.2),
            ("PartFilt", [], dict(N=800, reg=0.9, NER=0.2)),
            0.28,
        ),
        # Lorenz-96, Sakov & Oke 2008
        (
            "L96 EnKF N=40 infl 1.06",
            "sakov2008",
            40,
            EnKF(ensemble_size=40, inflation=1.06),
            ("EnKF", ["PertObs"], dict(N=40, infl=1.06)),
            0.22,
        ),
        (
            "L96 ETKF N=24 infl 1.013 rot",
            "sakov2008",
            40,
            ETKF(ensemble_size=24, inflation=1.013, rotate=True),
            ("EnKF", ["Sqrt"], dict(N=24, infl=1.013, rot=True)),
            0.18,
        ),
        (
            "L96 LETKF N=7 infl 1.04 rot loc 4",
            "sakov2008",
            40,
            LETKF(
                ensemble_size=7, inflation=1.04, localization_radius=4.0, rotate=True, batch_size=2
            ),
            ("LETKF", [], dict(N=7, infl=1.04, rot=True, loc_rad=4)),
            0.22,
        ),
        (
            "L96 LETKF N=10 infl 1.04 loc 4",
            "sakov2008",
            40,
            LETKF(ensemble_size=10, inflation=1.04, localization_radius=4.0, batch_size=2),
            ("LETKF", [], dict(N=10, infl=1.04, loc_rad=4)),
            None,
        ),
        (
            "L96 LETKF N=40 infl 1.04 rot loc 4",
            "sakov2008",
            40,
            LETKF(
                ensemble_size=40, inflation=1.04, localization_radius=4.0, rotate=True, batch_size=2
            ),
            ("LETKF", [], dict(N=40, infl=1.04, rot=True, loc_rad=4)),
            None,
        ),
    ]
    out = []
    for label, setting, dim, method, dapper, ref in rows:
        out.append(
            dict(
                label=label,
                setting=setting,
                dim=dim,
                method=method,
                dapper=dapper,
                reference=ref,
                Ko=ko,
                burn_in=None,
            )
        )
    # Lorenz-96 with 400 variables: LETKF cost against dimension (shorter runs)
    ko400 = 150 if quick else 300
    out.append(
        dict(
            label="L96 d=400 LETKF N=40 infl 1.04 rot loc 4",
            setting="sakov2008",
            dim=400,
            method=LETKF(
                ensemble_size=40, inflation=1.04, localization_radius=4.0, rotate=True, batch_size=2
            ),
            dapper=("LETKF", [], dict(N=40, infl=1.04, rot=True, loc_rad=4)),
            reference=None,
            Ko=ko400,
            burn_in=100,
        )
    )
    return out


# ----------------------------------------------------------------------------- geobayes
def run_geobayes(row, seeds):
    cfg = configs.get(
        row["setting"], **({"dim": row["dim"]} if row["setting"] == "sakov2008" else {})
    )
    K = row["Ko"]
    burn = row["burn_in"] if row["burn_in"] is not None else min(cfg.burn_in, K // 2)
    cfg.run(row["method"], seed=10_000, n_cycles=10, burn_in=0)  # warm the kernels
    res = []
    for s in seeds:
        t = cfg.run(row["method"], seed=s, n_cycles=K, burn_in=burn, progress=False)
        res.append(
            dict(
                seed=s,
                rmse=t.attrs["rmse_mean"],
                spread=t.attrs["spread_mean"],
                seconds=t.attrs["filtering_time"],
                cycles=K,
                threads=t.attrs["threads"],
            )
        )
    return res


def letkf_scaling(dims, n_cycles):
    """geobayes LETKF (N = 40) time per cycle against dimension."""
    out = []
    for d in dims:
        cfg = configs.sakov2008(dim=d)
        m = LETKF(ensemble_size=40, inflation=1.04, localization_radius=4.0, batch_size=2)
        cfg.run(m, seed=1, n_cycles=5, burn_in=0)
        t = cfg.run(m, seed=0, n_cycles=n_cycles, burn_in=n_cycles // 2, progress=False)
        out.append(
            dict(
                dim=d,
                ms_per_cycle=1e3 * t.attrs["filtering_time"] / n_cycles,
                threads=t.attrs["threads"],
                rmse=t.attrs["rmse_mean"],
            )
        )
    return out


# ----------------------------------------------------------------------------- DAPPER
def find_base_python():
    """A Python 3.11 to build DAPPER's venv with (DAPPER 1.7 supports <= 3.11)."""
    cands = [os.environ.get("DAPPER_BASE_PYTHON"), shutil.which("python3.11")]
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    for root in filter(None, roots):
        cands += sorted(
            glob.glob(os.path.join(root, "versions", "3.11*", "bin", "python")), reverse=True
        )
    for c in filter(None, cands):
        if os.path.exists(c):
            return c
    return None


def find_dapper_python():
    env = os.environ.get("DAPPER_PYTHON")
    if env:
        return env
    exe = DAPPER_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return str(exe) if exe.exists() else None


def setup_dapper():
    base = find_base_python()
    if base is None:
        raise SystemExit("no Python 3.11 found: set DAPPER_BASE_PYTHON")
    subprocess.run([base, "-m", "venv", str(DAPPER_VENV)], check=True)
    py = find_dapper_python()
    subprocess.run([py, "-m", "pip", "install", "-q", "dapper==1.7.*"], check=True)


def run_dapper(rows, seeds):
    py = find_dapper_python()
    if py is None:
        print(
            "DAPPER not found (run with --setup-dapper or set DAPPER_PYTHON); skipping",
            file=sys.stderr,
        )
        return {}
    jobs = []
    for row in rows:
        name, args, kwargs = row["dapper"]
        for s in seeds:
            job = dict(
                label=row["label"],
                setting=row["setting"],
                dim=row["dim"],
                Ko=row["Ko"],
                seed=s,
                method=name,
                args=args,
                kwargs=kwargs,
            )
            if row["burn_in"] is not None:
                job["burn_in_time"] = row["burn_in"] * 0.05
            jobs.append(job)
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [py, str(DAPPER_WORKER)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            out.setdefault(r["label"], []).append(r)
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- report
def med(rs, key):
    vals = [r[key] for r in rs if key in r]
    return float(np.median(vals)) if vals else float("nan")


def ms_per_cycle(rs):
    vals = [1e3 * r["seconds"] / r["cycles"] for r in rs if "seconds" in r]
    return float(np.median(vals)) if vals else float("nan")


def report(rows, geo, dap, scaling, meta):
    lines = [
        "# Filter benchmarks: geobayes against DAPPER 1.7",
        "",
        f"Generated by `benchmarks/filters/run.py` on {meta['date']} (commit {meta['commit']}, "
        f"{meta['cpus']} CPUs, load average at start {meta['load']}, seeds {meta['seeds']}).",
        "Medians over seeds of `rmse.a` (time mean of per-cycle analysis RMSE after burn-in)",
        "and `rmv.a` (spread); time = wall time of the filter per assimilation cycle (truth",
        "simulation and compilation excluded), both libraries run one after the other in the",
        "same invocation.  geobayes picks its thread count itself (column thr).",
        "",
        "| setting | ref | geobayes rmse [min, max] | DAPPER rmse [min, max] | geobayes spread | "
        "DAPPER spread | geobayes ms/cycle (thr) | DAPPER ms/cycle | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        g, d = geo.get(row["label"], []), dap.get(row["label"], [])
        d_ok = [r for r in d if "rmse" in r]

        def rng(rs):
            v = [r["rmse"] for r in rs]
            return f"[{min(v):.3f}, {max(v):.3f}]" if v else ""

        gm, dm = ms_per_cycle(g), ms_per_cycle(d_ok)
        ref = "" if row["reference"] is None else f"{row['reference']:.2f}"
        thr = g[0]["threads"] if g else ""
        speed = f"{dm / gm:.1f}x" if d_ok and gm > 0 else ""
        drm = (
            f"{med(d_ok, 'rmse'):.3f} {rng(d_ok)}"
            if d_ok
            else (d[0].get("error", "")[:40] if d else "")
        )
        lines.append(
            f"| {row['label']} (Ko={row['Ko']}) | {ref} | {med(g, 'rmse'):.3f} {rng(g)} | {drm} | "
            f"{med(g, 'spread'):.3f} | {med(d_ok, 'spread'):.3f} | {gm:.3f} ({thr}) | "
            f"{dm:.3f} | {speed} |"
        )
    lines += [
        "",
        "## LETKF cost against dimension (geobayes, N = 40, batches of 2)",
        "",
        "| dim | ms/cycle | threads | rmse |",
        "|---|---|---|---|",
    ]
    for s in scaling:
        lines.append(f"| {s['dim']} | {s['ms_per_cycle']:.2f} | {s['threads']} | {s['rmse']:.3f} |")
    notes = HERE / "notes.md"
    if notes.exists():
        lines.append(notes.read_text())
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-dapper", action="store_true")
    p.add_argument("--setup-dapper", action="store_true")
    p.add_argument("--only", help="run rows whose label contains this text")
    p.add_argument("--json", default=str(HERE / "results.json"))
    p.add_argument("--md", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    if args.setup_dapper:
        setup_dapper()
    seeds = list(range(2 if args.quick else args.seeds))
    rows = [r for r in suite(args.quick) if not args.only or args.only in r["label"]]
    meta = dict(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        cpus=os.cpu_count(),
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        seeds=len(seeds),
        python=platform.python_version(),
    )
    geo = {}
    t0 = time.time()
    for row in rows:
        geo[row["label"]] = run_geobayes(row, seeds)
        print(
            f"geobayes {row['label']}: rmse {med(geo[row['label']], 'rmse'):.3f}, "
            f"{ms_per_cycle(geo[row['label']]):.3f} ms/cycle",
            flush=True,
        )
    scaling = letkf_scaling([40, 100, 200, 400, 800], 50 if args.quick else 150)
    dap = {} if args.no_dapper else run_dapper(rows, seeds)
    for label, rs in dap.items():
        print(f"DAPPER {label}: rmse {med(rs, 'rmse'):.3f}, {ms_per_cycle(rs):.3f} ms/cycle")
    md = report(rows, geo, dap, scaling, meta)
    Path(args.md).write_text(md)
    serial = {k: v for k, v in geo.items()}
    Path(args.json).write_text(
        json.dumps(
            dict(meta=meta, geobayes=serial, dapper=dap, scaling=scaling), indent=1, default=str
        )
    )
    print(md)
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
