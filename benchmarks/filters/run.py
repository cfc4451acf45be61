"""Filter benchmarks: DAPPER's Sakov settings, geobayes against DAPPER, like for like.

Usage (from the repository root)::

    .venv/bin/python benchmarks/filters/run.py              # every row, 3 seeds
    .venv/bin/python benchmarks/filters/run.py --quick      # 2 seeds, shorter runs
    .venv/bin/python benchmarks/filters/run.py --only L96   # re-run rows, merge, rewrite
    .venv/bin/python benchmarks/filters/run.py --setup-dapper   # create DAPPER's venv first

DAPPER (1.8.1, PyPI ``dapper``) lives in its own virtual environment: ``$DAPPER_PYTHON``
if set, else ``benchmarks/.venvs/dapper`` or ``.venv-dapper`` at the repository root
(both git-ignored).  ``--setup-dapper`` creates the first with a Python 3.11/3.12 found
by itself (``$DAPPER_BASE_PYTHON``, ``python3.12``/``python3.11`` on PATH, pyenv).
Without DAPPER the geobayes columns are filled on geobayes's own simulated truths.

Like for like: for every row and seed DAPPER simulates the truth and the
observations (its ``HMM.simulate``, seed ``s + 1``) and saves them; both
libraries then filter the same data.  DAPPER runs twice, with its default
statistics and in its light statistics mode (``rc.comps.error_only``: only the
errors are computed inside ``assimilate``; same RMSE), in one persistent
process (``dapper_worker.py --serve``), alternating with the geobayes runs
(DAPPER light, geobayes defaults, DAPPER default, geobayes other settings).
geobayes runs at its defaults (what a user gets: ``LETKF(ensemble_size,
inflation, localization_radius, rotate)``) on one thread, and where other
settings matter, at those too (the previous defaults, two threads).  Times are
wall time per cycle of the filter (DAPPER: ``assimilate``; geobayes: the kernel
loop, ``filtering_time``; the whole ``filter()`` call is in ``results.json``);
the tables show medians over seeds, and speed-ups are medians of the per-seed
ratios of runs made next to each other.  OpenBLAS/OpenMP are pinned to one
thread on both sides.  Results go to ``results.json`` (every seed; ``--only``
merges into it) and ``RESULTS.md`` (regenerated from it).
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
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from geobayes.filters import ETKF, LETKF, EnKF, ParticleFilter, configs  # noqa: E402
from geobayes.filters import filter as run_filter  # noqa: E402

DAPPER_VENV = ROOT / "benchmarks" / ".venvs" / "dapper"
DAPPER_VENV_ALT = ROOT / ".venv-dapper"
#: the DAPPER side, shipped with the package (geobayes bench --filters --dapper PY uses it too)
DAPPER_WORKER = ROOT / "geobayes" / "bench" / "peers" / "dapper_worker.py"
DAPPER_VERSION = "1.8.1"


# ----------------------------------------------------------------------------- suites
def _letkf(N, rot=True, **kw):
    return LETKF(ensemble_size=N, inflation=1.04, localization_radius=4.0, rotate=rot, **kw)


def suite(quick: bool):
    """Rows: label, setting, dim, geobayes variants [(name, method, threads)], DAPPER job,
    reference rmse, Ko, burn-in cycles (None: the setting's)."""
    ko = 300 if quick else 1000
    one = lambda m: [("defaults", m, 1)]  # noqa: E731
    prev = dict(batch_size=1, taper_cut=0.0, factorization="ensemble")
    rows = [
        (
            "L63 ETKF N=3 infl 1.30",
            "sakov2012",
            3,
            one(ETKF(ensemble_size=3, inflation=1.30)),
            ("EnKF", ["Sqrt"], dict(N=3, infl=1.30)),
            0.80,
        ),
        (
            "L63 ETKF N=10 infl 1.02 rot",
            "sakov2012",
            3,
            one(ETKF(ensemble_size=10, inflation=1.02, rotate=True)),
            ("EnKF", ["Sqrt"], dict(N=10, infl=1.02, rot=True)),
            0.60,
        ),
        (
            "L63 EnKF N=10 infl 1.04",
            "sakov2012",
            3,
            one(EnKF(ensemble_size=10, inflation=1.04)),
            ("EnKF", ["PertObs"], dict(N=10, infl=1.04)),
            0.65,
        ),
        (
            "L63 EnKF N=100 infl 1.01",
            "sakov2012",
            3,
            one(EnKF(ensemble_size=100, inflation=1.01)),
            ("EnKF", ["PertObs"], dict(N=100, infl=1.01)),
            0.56,
        ),
        (
            "L63 PF N=100 reg 2.4 NER 0.3",
            "sakov2012",
            3,
            one(ParticleFilter(ensemble_size=100, regularization=2.4, resample_threshold=0.3)),
            ("PartFilt", [], dict(N=100, reg=2.4, NER=0.3)),
            0.38,
        ),
        (
            "L63 PF N=800 reg 0.9 NER 0.2",
            "sakov2012",
            3,
            one(ParticleFilter(ensemble_size=800, regularization=0.9, resample_threshold=0.2)),
            ("PartFilt", [], dict(N=800, reg=0.9, NER=0.2)),
            0.28,
        ),
        (
            "L96 EnKF N=40 infl 1.06",
            "sakov2008",
            40,
            one(EnKF(ensemble_size=40, inflation=1.06)),
            ("EnKF", ["PertObs"], dict(N=40, infl=1.06)),
            0.22,
        ),
        (
            "L96 ETKF N=24 infl 1.013 rot",
            "sakov2008",
            40,
            one(ETKF(ensemble_size=24, inflation=1.013, rotate=True)),
            ("EnKF", ["Sqrt"], dict(N=24, infl=1.013, rot=True)),
            0.18,
        ),
        (
            "L96 LETKF N=7 infl 1.04 rot loc 4",
            "sakov2008",
            40,
            one(_letkf(7)),
            ("LETKF", [], dict(N=7, infl=1.04, rot=True, loc_rad=4)),
            0.22,
        ),
        (
            "L96 LETKF N=10 infl 1.04 loc 4",
            "sakov2008",
            40,
            one(_letkf(10, rot=False)),
            ("LETKF", [], dict(N=10, infl=1.04, loc_rad=4)),
            None,
        ),
        (
            "L96 LETKF N=40 infl 1.04 rot loc 4",
            "sakov2008",
            40,
            [
                ("defaults", _letkf(40), 1),
                ("batch 1, no cut, N x N factorization", _letkf(40, **prev), 1),
            ],
            ("LETKF", [], dict(N=40, infl=1.04, rot=True, loc_rad=4)),
            None,
        ),
    ]
    out = [
        dict(label=lb, setting=st, dim=dm, variants=v, dapper=dp, reference=rf, Ko=ko, burn_in=None)
        for lb, st, dm, v, dp, rf in rows
    ]
    for dim, k in ((400, 150 if quick else 300), (800, 100 if quick else 150)):
        out.append(
            dict(
                label=f"L96 d={dim} LETKF N=40 infl 1.04 rot loc 4",
                setting="sakov2008",
                dim=dim,
                variants=[("defaults", _letkf(40), 1), ("defaults, 2 threads", _letkf(40), 2)],
                dapper=("LETKF", [], dict(N=40, infl=1.04, rot=True, loc_rad=4)),
                reference=None,
                Ko=k,
                burn_in=k // 3,
            )
        )
    return out


# ----------------------------------------------------------------------------- geobayes
def _cfg(row):
    return configs.get(
        row["setting"], **({"dim": row["dim"]} if row["setting"] == "sakov2008" else {})
    )


def _burn(row, cfg):
    return row["burn_in"] if row["burn_in"] is not None else min(cfg.burn_in, row["Ko"] // 2)


def run_geobayes(row, method, threads, seed, data=None):
    """One geobayes run: on ``data`` = (truth at the observation times, observations)
    when given (DAPPER's), else on geobayes's own simulated truth for ``seed``."""
    cfg = _cfg(row)
    if data is None:
        x, y = cfg.ssm.simulate(row["Ko"], seed=seed)
    else:
        x, y = data
    burn = _burn(row, cfg)
    t0 = time.perf_counter()
    t = run_filter(cfg.ssm, y, method, seed=1000 + seed, truth=x, burn_in=burn, threads=threads)
    call = time.perf_counter() - t0
    K = y.shape[0]
    return dict(
        seed=seed,
        rmse=t.attrs["rmse_mean"],
        spread=t.attrs["spread_mean"],
        seconds=t.attrs["filtering_time"],
        call_seconds=call,
        cycles=K,
        threads=t.attrs["threads"],
        same_data=data is not None,
    )


def warm(row):
    cfg = _cfg(row)
    x, y = cfg.ssm.simulate(10, seed=12345)
    for _, method, threads in row["variants"]:
        run_filter(cfg.ssm, y, method, seed=0, threads=threads)


# ----------------------------------------------------------------------------- DAPPER
def find_base_python():
    """A Python 3.11/3.12 to build DAPPER's venv with."""
    cands = [
        os.environ.get("DAPPER_BASE_PYTHON"),
        shutil.which("python3.12"),
        shutil.which("python3.11"),
    ]
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    for root in filter(None, roots):
        for v in ("3.12*", "3.11*"):
            cands += sorted(
                glob.glob(os.path.join(root, "versions", v, "bin", "python")), reverse=True
            )
    for c in filter(None, cands):
        if os.path.exists(c):
            try:
                subprocess.run([c, "-V"], check=True, capture_output=True)
            except (OSError, subprocess.CalledProcessError):
                continue
            return c
    return None


def find_dapper_python():
    env = os.environ.get("DAPPER_PYTHON")
    if env:
        return env
    for venv in (DAPPER_VENV, DAPPER_VENV_ALT):
        exe = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if exe.exists():
            return str(exe)
    return None


def setup_dapper():
    base = find_base_python()
    if base is None:
        raise SystemExit("no Python 3.11/3.12 found: set DAPPER_BASE_PYTHON")
    subprocess.run([base, "-m", "venv", str(DAPPER_VENV)], check=True)
    py = find_dapper_python()
    subprocess.run([py, "-m", "pip", "install", "-q", f"dapper=={DAPPER_VERSION}"], check=True)


class Dapper:
    """A persistent DAPPER worker (``dapper_worker.py --serve``): one job in, one result out."""

    def __init__(self, py):
        env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [py, str(DAPPER_WORKER), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.version = None

    def run(self, row, seed, **extra):
        name, args, kwargs = row["dapper"]
        job = dict(
            label=row["label"],
            setting=row["setting"],
            dim=row["dim"],
            Ko=row["Ko"] - 1,  # DAPPER's Ko is the last observation index
            seed=seed,
            method=name,
            args=args,
            kwargs=kwargs,
            **extra,
        )
        if row["burn_in"] is not None:
            job["burn_in_time"] = row["burn_in"] * 0.05
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return dict(label=row["label"], seed=seed, error="DAPPER worker ended")
            if line.startswith("{"):
                return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # pragma: no cover
            self.proc.kill()


def run_row(row, seeds, dapper, tmp):
    """Alternate DAPPER (light, default) with geobayes (its variants), seed by seed."""
    warm(row)
    out = dict(geobayes={v[0]: [] for v in row["variants"]}, dapper_light=[], dapper_default=[])
    for s in seeds:
        data = None
        if dapper is not None:
            path = str(Path(tmp) / f"{abs(hash(row['label']))}_{s}.npz")
            first = dapper.run(row, s, save=path, light=True)
            out["dapper_light"].append(first)
            if "error" not in first:
                with np.load(path) as f:
                    data = (f["xx"], f["yy"])
        v0 = row["variants"][0]
        out["geobayes"][v0[0]].append(run_geobayes(row, v0[1], v0[2], s, data))
        if dapper is not None and data is not None:
            out["dapper_default"].append(dapper.run(row, s, load=path))
        for name, method, threads in row["variants"][1:]:
            out["geobayes"][name].append(run_geobayes(row, method, threads, s, data))
    return out


# ----------------------------------------------------------------------------- report
def med(rs, key):
    vals = [r[key] for r in rs if key in r]
    return float(np.median(vals)) if vals else float("nan")


def ms(rs):
    vals = [1e3 * r["seconds"] / r["cycles"] for r in rs if "seconds" in r]
    return float(np.median(vals)) if vals else float("nan")


def ratio(dap, geo):
    """Median over seeds of DAPPER's time over geobayes's (runs made next to each other)."""
    d = {r["seed"]: r["seconds"] / r["cycles"] for r in dap if "seconds" in r}
    g = {r["seed"]: r["seconds"] / r["cycles"] for r in geo if "seconds" in r}
    rs = [d[k] / g[k] for k in d if k in g and g[k] > 0]
    return float(np.median(rs)) if rs else float("nan")


def _rng(rs):
    v = [r["rmse"] for r in rs if "rmse" in r]
    return f"[{min(v):.3f}, {max(v):.3f}]" if v else ""


def report(rows, results, meta):
    lines = [
        f"# Filter benchmarks: geobayes against DAPPER {DAPPER_VERSION}, like for like",
        "",
        "Generated by `benchmarks/filters/run.py` (see its docstring and README.md).  Every row:",
        "both libraries filter the same truths and observations (DAPPER's, one per seed), run",
        "alternately in one invocation; DAPPER with its light statistics mode",
        "(`rc.comps.error_only`) and its default statistics, geobayes at its defaults on one",
        "thread (and at the other settings listed).  rmse = `rmse.a` (time mean of the analysis",
        "RMSE after burn-in), median [min, max] over seeds; ms = wall milliseconds per cycle of",
        "the filter, median over seeds; speed-up = median over seeds of DAPPER's time over",
        "geobayes's defaults (runs next to each other).",
        "",
        "| setting | ref | seeds | geobayes rmse | DAPPER rmse | geobayes ms (thr) | "
        "DAPPER light ms | DAPPER default ms | speed-up vs light | vs default | "
        "run at, commit (load) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    extra = []
    for row in rows:
        r = results.get(row["label"])
        if r is None:
            continue
        gname = row["variants"][0][0]
        g = r["geobayes"][gname]
        dl = [x for x in r["dapper_light"] if "rmse" in x]
        dd = [x for x in r["dapper_default"] if "rmse" in x]
        ref = "" if row["reference"] is None else f"{row['reference']:.2f}"
        thr = g[0]["threads"] if g else ""
        same = "" if (g and g[0].get("same_data")) else " (own truths)"
        drm = f"{med(dd or dl, 'rmse'):.3f} {_rng(dd or dl)}" if (dd or dl) else ""
        sl = f"{ratio(dl, g):.1f}x" if dl else ""
        sd = f"{ratio(dd, g):.1f}x" if dd else ""
        lines.append(
            f"| {row['label']} (Ko={row['Ko']}){same} | {ref} | {len(g)} | "
            f"{med(g, 'rmse'):.3f} {_rng(g)} | {drm} | {ms(g):.3f} ({thr}) | "
            f"{ms(dl):.3f} | {ms(dd):.3f} | {sl} | {sd} | {r['meta']['date'][11:]}, "
            f"{r['meta'].get('commit', '')} "
            f"({r['meta']['load']}) |"
        )
        for name, _, _ in row["variants"][1:]:
            gv = r["geobayes"].get(name, [])
            if not gv:
                continue
            extra.append(
                f"| {row['label']} | {name} | {med(gv, 'rmse'):.3f} {_rng(gv)} | "
                f"{ms(gv):.3f} ({gv[0]['threads']}) | {ms(g) and ms(gv) / ms(g):.2f} | "
                f"{ratio(dl, gv):.1f}x | {ratio(dd, gv):.1f}x |"
            )
    if extra:
        lines += [
            "",
            "## geobayes at other settings (same data, same invocation)",
            "",
            "| row | geobayes settings | rmse | ms (thr) | time / defaults' | "
            "speed-up vs DAPPER light | vs default |",
            "|---|---|---|---|---|---|---|",
            *extra,
        ]
    lines += [
        "",
        f"Machine: {meta['cpus']} CPUs, Python {meta['python']}; load = 1-minute load average "
        "when the row started (other jobs share this machine).",
        "",
    ]
    notes = HERE / "notes.md"
    if notes.exists():
        lines.append(notes.read_text())
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-dapper", action="store_true")
    p.add_argument("--setup-dapper", action="store_true")
    p.add_argument("--report-only", action="store_true", help="rewrite --md from --json")
    p.add_argument("--only", help="run rows whose label contains this text; merge into --json")
    p.add_argument("--json", default=str(HERE / "results.json"))
    p.add_argument("--md", default=str(HERE / "RESULTS.md"))
    args = p.parse_args(argv)
    if args.setup_dapper:
        setup_dapper()
    seeds = list(range(2 if args.quick else args.seeds))
    all_rows = suite(args.quick)
    rows = [r for r in all_rows if not args.only or args.only in r["label"]]
    meta = dict(
        cpus=os.cpu_count(),
        python=platform.python_version(),
        commit=subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    )
    if args.report_only:
        saved = json.loads(Path(args.json).read_text())
        Path(args.md).write_text(report(all_rows, saved["rows"], saved.get("meta", meta)))
        return
    old = {}
    if args.only and Path(args.json).exists():
        try:
            old = json.loads(Path(args.json).read_text()).get("rows", {})
        except (json.JSONDecodeError, AttributeError):
            old = {}
    py = None if args.no_dapper else find_dapper_python()
    if py is None and not args.no_dapper:
        print("DAPPER not found (--setup-dapper or DAPPER_PYTHON); geobayes only", file=sys.stderr)
    dapper = Dapper(py) if py else None
    results = dict(old)
    t0 = time.time()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for row in rows:
                rmeta = dict(
                    date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    load=f"{os.getloadavg()[0]:.1f}",
                    commit=meta["commit"],
                )
                r = run_row(row, seeds, dapper, tmp)
                r["meta"] = rmeta
                results[row["label"]] = r
                g = r["geobayes"][row["variants"][0][0]]
                print(
                    f"{row['label']}: geobayes rmse {med(g, 'rmse'):.3f} {ms(g):.3f} ms | DAPPER "
                    f"light {ms(r['dapper_light']):.3f} ms, default {ms(r['dapper_default']):.3f}"
                    f" ms, rmse {med(r['dapper_default'] or r['dapper_light'], 'rmse'):.3f} | "
                    f"x{ratio(r['dapper_light'], g):.1f} (light)",
                    flush=True,
                )
    finally:
        if dapper is not None:
            dapper.close()
    Path(args.json).write_text(json.dumps(dict(meta=meta, rows=results), indent=1, default=str))
    md = report(all_rows, results, meta)
    Path(args.md).write_text(md)
    print(md)
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
