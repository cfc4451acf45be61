"""The benchmark grid: models x methods x seeds at one budget, resumable.

:func:`run_grid` expands the grid, skips the cells already recorded with
``status = "ok"`` in ``OUT/results.jsonl`` (resume: failed cells are retried), runs the
rest on an executor with a progress bar, appends each record to the JSON Lines file the
moment it arrives (an interrupted or failed grid keeps its finished cells), then writes
``OUT/results.md`` and the plots (:mod:`geobayes.bench.report`).

Examples
--------
>>> import tempfile
>>> from geobayes.bench import run_grid
>>> out = tempfile.mkdtemp()
>>> recs = run_grid(["gaussian"], ["mala"], seeds=[0], budget="2000grad", out=out,
...                 chains=2, progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from geobayes.bench.cell import CellSpec, parse_budget

__all__ = ["expand_grid", "run_grid", "load_results", "RESULTS_FILE"]

RESULTS_FILE = "results.jsonl"
JAX_CACHE_ENV = "GEOBAYES_JAX_CACHE"  # JAX peers' persistent compilation cache folder


def _hyper_for(method: str, hyper: dict) -> tuple:
    return tuple(sorted((hyper or {}).get(method, {}).items()))


def resolve_models(models, reference_dir=None) -> list[str]:
    """Expand ``all``/``analytic``/``posteriordb`` and check names (ValueError lists valid ones)."""
    from geobayes.bench.targets import has_reference, target_names

    out = []
    for m in models:
        if m in ("all", "analytic", "posteriordb"):
            names = target_names(reference_dir, None if m == "all" else m)
            if not names:
                raise ValueError(
                    f"no {m} models with reference draws found; pass --reference-dir "
                    "(the posteriordb folder) or set GEOBAYES_POSTERIORDB"
                )
            out += [n for n in names if n not in out]
            continue
        if not has_reference(m, reference_dir):
            valid = target_names(reference_dir)
            raise ValueError(
                f"unknown model {m!r} (or no reference draws for it); models with "
                f"references: {', '.join(valid)} (or all, analytic, posteriordb)"
            )
        if m not in out:
            out.append(m)
    return out


def resolve_methods(methods) -> list[str]:
    """Check method names (geobayes registry + peers); ``all-geobayes`` expands."""
    from geobayes.bench.methods import _geobayes_methods, check_method

    out = []
    for m in methods:
        names = sorted(_geobayes_methods()) if m == "all-geobayes" else [m]
        for n in names:
            check_method(n)
            if n not in out:
                out.append(n)
    return out


def expand_grid(models, methods, seeds, budget, chains=4, hyper=None, reference_dir=None):
    """The cell specs of the grid, model-major."""
    budget = parse_budget(budget)
    if isinstance(chains, bool) or not isinstance(chains, int) or chains < 1:
        raise ValueError(f"chains must be a positive integer, got {chains!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must be non-negative integers, got {s!r}")
    unknown = sorted(set(hyper or {}) - set(methods))
    if unknown:
        raise ValueError(
            f"hyperparameters given for method(s) {', '.join(unknown)} not in the grid "
            f"({', '.join(methods)})"
        )
    rd = str(reference_dir) if reference_dir is not None else None
    return [
        CellSpec(m, meth, int(s), budget, chains, _hyper_for(meth, hyper), rd)
        for m in models
        for meth in methods
        for s in seeds
    ]


def load_results(out) -> list[dict]:
    """Records of ``OUT/results.jsonl`` (the last record of each key wins)."""
    path = Path(out) / RESULTS_FILE
    recs = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption
            recs[r.get("key")] = r
    return list(recs.values())


def check_out_dir(out) -> Path:
    """Create ``out`` if needed and check it is writable (OSError with one clear line)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OSError(f"--out {out} is a file; give a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(p, os.W_OK):
        raise OSError(f"cannot write to output folder {out}: permission denied")
    return p


def run_grid(
    models,
    methods,
    seeds=(0,),
    budget="5s",
    *,
    out,
    chains: int = 4,
    hyper: dict | None = None,
    reference_dir=None,
    executor="local",
    jobs: int = 1,
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = True,
    plots: bool = True,
    log=print,
) -> list[dict]:
    """Run the grid, resuming from ``out``; returns all records of the grid.

    Parameters
    ----------
    models, methods : list of str
        Model names with references (see :func:`geobayes.bench.targets.target_names`;
        ``all``, ``analytic``, ``posteriordb`` expand) and method names (the sampler
        registry and the peers; ``all-geobayes`` expands).
    seeds : list of int
    budget : str or Budget
        ``"5s"`` (wall seconds) or ``"20000grad"`` (gradient evaluations) per cell.
    out : path
        Output folder (created): ``results.jsonl``, ``results.md``, ``*.png``.
    chains : int
    hyper : dict, optional
        ``{method: {name: value}}`` hyperparameters per method.
    executor : ``"local"`` or ``"dask"`` or an executor object
    jobs : int
        Worker processes of the local executor.
    scheduler : str, optional
        Dask scheduler address; without it ``executor="dask"`` starts a ``LocalCluster``
        of ``workers`` processes.
    """
    from geobayes.bench.executors import get_executor
    from geobayes.bench.report import write_reports

    out = check_out_dir(out)
    models = resolve_models(models, reference_dir)
    methods = resolve_methods(methods)
    specs = expand_grid(models, methods, seeds, budget, chains, hyper, reference_dir)
    done = {r["key"]: r for r in load_results(out) if r.get("status") == "ok"}
    todo = [s for s in specs if s.key() not in done]
    if done and log:
        log(f"resuming: {len(specs) - len(todo)} of {len(specs)} cells already done in {out}")
    ex = (
        get_executor(executor, jobs=jobs, scheduler=scheduler, workers=workers)
        if isinstance(executor, str)
        else executor
    )
    path = out / RESULTS_FILE
    new = []
    t0 = time.perf_counter()
    # JAX peers keep their persistent compilation cache beside the results (workers
    # inherit the environment); a cache the user set is kept
    jax_env = os.environ.get(JAX_CACHE_ENV)
    os.environ[JAX_CACHE_ENV] = jax_env or str((out / "jax-cache").resolve())
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="bench", unit="cell")
    try:
        if todo:
            with path.open("a") as fh:
                for rec in ex.run(todo):
                    rec["executor"] = getattr(ex, "name", str(executor))
                    fh.write(json.dumps(rec, default=_json_default) + "\n")
                    fh.flush()
                    new.append(rec)
                    if bar is not None:
                        bar.set_postfix_str(f"{rec['model']}/{rec['method']} {rec['status']}")
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if isinstance(executor, str):
            ex.close()
        if jax_env is None:
            os.environ.pop(JAX_CACHE_ENV, None)
        keys = {s.key() for s in specs}
        records = [r for r in load_results(out) if r.get("key") in keys]
        write_reports(records, out, plots=plots, grid_wall_s=time.perf_counter() - t0)
    failed = [r for r in new if r["status"] != "ok"]
    if failed and log:
        for r in failed:
            log(f"failed: {r['model']} / {r['method']} / seed {r['seed']}: {r['error']}")
    return records


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
