"""Filter benchmark: every filter method on the Lorenz settings of :mod:`geobayes.filters.configs`.

For each configuration (``sakov2012`` Lorenz-63, ``sakov2008`` Lorenz-96) every
reference row that names a geobayes method is run, and every registered filter method
(:data:`geobayes.filters.methods.METHODS`) without such a row is run with its default
hyperparameters when it applies to the setting (a method that does not, e.g. the Kalman
filter on a nonlinear model, is recorded as not applicable).  Per run: DAPPER's
``rmse.a`` (time mean of the analysis RMSE after burn-in), the mean ensemble spread and
the wall time per cycle of the filter (kernels warmed first; truth simulation and
compilation excluded).  Results: ``OUT/filters.jsonl`` (one record per run, resumable
like the sampler grid) and ``OUT/filters.md`` (medians over seeds beside the published
reference RMSE).

DAPPER is the optional peer: ``dapper_python`` is an interpreter that can ``import
dapper`` (its own environment, e.g. Python 3.11 + ``dapper``); the same settings run
there through ``geobayes/bench/peers/dapper_worker.py`` in the same invocation, and its
RMSE, spread and time per cycle appear beside ours.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np

__all__ = ["filter_cells", "run_filters"]


def _registry():
    from geobayes.filters.methods import METHODS

    seen, out = set(), {}
    for name, cls in METHODS.items():  # aliases (kf, particle) map to one class
        if cls not in seen:
            seen.add(cls)
            out[name] = cls
    return out


def _dapper_job(method):
    """DAPPER's name, args and kwargs for a geobayes filter front object, or None."""
    kind = type(method).__name__
    if kind == "EnKF":
        return "EnKF", ["PertObs"], {"N": method.ensemble_size, "infl": method.inflation}
    if kind == "ETKF":
        kw = {"N": method.ensemble_size, "infl": method.inflation, "rot": method.rotate}
        return "EnKF", ["Sqrt"], kw
    if kind == "LETKF":
        kw = {"N": method.ensemble_size, "infl": method.inflation, "rot": method.rotate}
        return "LETKF", [], kw | {"loc_rad": method.localization_radius}
    if kind == "ParticleFilter":
        kw = {"N": method.ensemble_size, "reg": method.regularization}
        return "PartFilt", [], kw | {"NER": method.resample_threshold}
    return None


def filter_cells(configs=None, methods=None):
    """``[(config name, label, method object or class, reference rmse or None)]``."""
    from geobayes.filters import configs as C

    names = configs or C.names()
    for n in names:
        if n not in C.names():
            raise ValueError(
                f"unknown filter configuration {n!r}; available: {', '.join(C.names())}"
            )
    reg = _registry()
    if methods:
        from geobayes.filters.methods import METHODS

        bad = [m for m in methods if m not in METHODS]
        if bad:
            raise ValueError(
                f"unknown filter method(s) {', '.join(bad)}; "
                f"available: {', '.join(sorted(METHODS))}"
            )
        wanted = {METHODS[m] for m in methods}
    else:
        wanted = set(reg.values())
    cells = []
    for n in names:
        cfg = C.get(n)
        covered = set()
        for ref in cfg.references:
            if ref.method is not None and type(ref.method) in wanted:
                cells.append((n, ref.label, ref.method, ref.rmse))
                covered.add(type(ref.method))
        for name, cls in reg.items():
            if cls in wanted and cls not in covered:
                cells.append((n, f"{name} (defaults)", cls, None))
    return cells


def _one(cfg, method, seed, n_cycles):
    if isinstance(method, type):
        try:
            method = method()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"needs settings for this configuration ({exc})") from None
    cfg.run(method, seed=seed, n_cycles=min(20, cfg.n_cycles))  # warm the kernels
    t = time.perf_counter()
    tree = cfg.run(method, seed=seed, n_cycles=n_cycles)
    wall = time.perf_counter() - t
    a = tree.attrs
    K = int(a.get("n_cycles", n_cycles or cfg.n_cycles))
    return {
        "rmse": float(a["rmse_mean"]),
        "spread": float(a["spread_mean"]),
        "seconds_per_cycle": float(a.get("filtering_time", wall)) / K,
        "call_seconds_per_cycle": wall / K,
        "cycles": K,
        "settings": repr(method),
    }


def _dapper(py, cells, seeds, n_cycles):
    from geobayes.filters import configs as C

    worker = Path(__file__).resolve().parent / "peers" / "dapper_worker.py"
    jobs = []
    for cname, label, method, _ in cells:
        job = _dapper_job(method) if not isinstance(method, type) else None
        if job is None:
            continue
        cfg = C.get(cname)
        for s in seeds:
            jobs.append(
                {
                    "label": f"{cname}|{label}",
                    "setting": cname,
                    "dim": int(cfg.ssm.dim) if hasattr(cfg.ssm, "dim") else 40,
                    "Ko": int(n_cycles or cfg.n_cycles),
                    "seed": int(s),
                    "method": job[0],
                    "args": job[1],
                    "kwargs": job[2],
                }
            )
    if not jobs:
        return {}
    proc = subprocess.run(
        [py, str(worker)], input=json.dumps(jobs), capture_output=True, text=True, check=False
    )
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            out.setdefault(r["label"], []).append(r)
    if proc.returncode and not out:
        raise OSError(f"DAPPER at {py} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return out


def run_filters(
    configs=None,
    methods=None,
    seeds=(0,),
    n_cycles=None,
    *,
    out,
    dapper_python=None,
    progress=True,
) -> list[dict]:
    """Run the filter benchmark into ``out``; returns the records (resumes like the grid)."""
    from geobayes.bench.grid import check_out_dir
    from geobayes.filters import configs as C

    if n_cycles is not None and (isinstance(n_cycles, bool) or n_cycles < 10):
        raise ValueError(f"--cycles must be an integer >= 10, got {n_cycles!r}")
    out = check_out_dir(out)
    cells = filter_cells(configs, methods)
    path = out / "filters.jsonl"
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("status") in ("ok", "n/a"):
                done[r["key"]] = r
    todo = [(c, s) for c in cells for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="filters", unit="run")
    with path.open("a") as fh:
        for (cname, label, method, ref), seed in todo:
            key = f"{cname}|{label}|{seed}|{n_cycles}"
            if key not in done:
                rec = {"key": key, "config": cname, "label": label, "seed": seed, "ref_rmse": ref}
                try:
                    rec.update(_one(C.get(cname), method, seed, n_cycles), status="ok")
                except (ValueError, TypeError, NotImplementedError) as exc:
                    rec.update(status="n/a", error=str(exc).splitlines()[0][:300])
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                done[key] = rec
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    records = [done[f"{c}|{lab}|{s}|{n_cycles}"] for (c, lab, _, _), s in todo]
    peer = _dapper(dapper_python, cells, seeds, n_cycles) if dapper_python else {}
    _write_md(records, peer, out / "filters.md")
    return records


def _med(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return float(np.median(v)) if v else None


def _write_md(records, peer, path):
    lines = [
        "# geobayes bench --filters",
        "",
        "Medians over seeds. rmse = DAPPER's rmse.a (analysis RMSE, time mean after "
        "burn-in); ms/cycle = filter wall time per cycle (warm). DAPPER columns: same "
        "settings in DAPPER's environment, same invocation (empty without --dapper).",
        "",
        "| config | method | seeds | rmse | ref rmse | spread | ms/cycle | DAPPER rmse "
        "| DAPPER ms/cycle | time ratio DAPPER/geobayes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {}
    for r in records:
        groups.setdefault((r["config"], r["label"]), []).append(r)

    def f(x, fmt):
        return "-" if x is None else fmt.format(x)

    for (c, lab), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        if not ok:
            lines.append(f"| {c} | {lab} | 0 | n/a: {rs[0].get('error', '')} | | | | | | |")
            continue
        p = peer.get(f"{c}|{lab}", [])
        p = [x for x in p if "error" not in x]
        ms = _med(ok, "seconds_per_cycle")
        pms = float(np.median([x["seconds"] / x["cycles"] for x in p])) if p else None
        lines.append(
            f"| {c} | {lab} | {len(ok)} | {f(_med(ok, 'rmse'), '{:.3f}')} | "
            f"{f(ok[0].get('ref_rmse'), '{:.2f}')} | {f(_med(ok, 'spread'), '{:.3f}')} | "
            f"{f(ms * 1e3 if ms else None, '{:.3f}')} | "
            f"{f(_med(p, 'rmse') if p else None, '{:.3f}')} | "
            f"{f(pms * 1e3 if pms else None, '{:.3f}')} | "
            f"{f(pms / ms if (pms and ms) else None, '{:.1f}')} |"
        )
    path.write_text("\n".join(lines) + "\n")
