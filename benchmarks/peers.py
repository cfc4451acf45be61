"""geobayes beside its peers on the same targets, through the harness, in fresh processes.

Every (model, library) pair runs in a **fresh process** (``geobayes bench --jobs 1``
spawns one worker per grid invocation; here each pair gets its own grid so nothing is
shared between libraries): the harness builds the target, makes a cold call (Numba
disk cache load / JAX tracing and compilation), a warm pilot call, then the measured
call at the budget; imports, model building and ESS are outside the timed call for
every library alike (see :mod:`geobayes.bench.cell`).

JAX peers run twice: with JAX's persistent compilation cache **off** (every process
compiles) and **warm** (``jax_cache=DIR`` filled by a previous process), so the
``compile s`` column shows both.  Peers are optional (``pip install -e '.[peers]'``);
missing ones are skipped with a note.  Results: ``benchmarks/results/peers/`` (JSON
Lines, Markdown, plots).  Run: ``python -m benchmarks.peers`` (or ``geobayes bench
peers``).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

__all__ = ["run", "format_table"]

OUT = Path(__file__).resolve().parent / "results" / "peers"


def run(
    models=("gaussian", "eight_schools"),
    methods=("hmc", "numpyro_nuts", "blackjax_nuts", "emcee", "nutpie"),
    budget="5s",
    seeds=(0,),
    out=OUT,
) -> list[dict]:
    """One grid per library (fresh worker process each); returns all records."""
    from geobayes.bench import run_grid
    from geobayes.bench.peers import PEERS

    out = Path(out)
    records = []
    with tempfile.TemporaryDirectory() as cache:
        for method in methods:
            peer = PEERS.get(method)
            if peer is not None and any(importlib.util.find_spec(p) is None for p in peer.packages):
                print(f"{method}: not installed, skipped (pip install -e '.[peers]')")
                continue
            variants = [("", {})]
            if method in ("numpyro_nuts", "blackjax_nuts"):
                # cache off, then the same grid again with the persistent cache filled
                # by a first (discarded) process and read by a second
                variants = [
                    ("cache-off", {}),
                    ("cache-fill", {"jax_cache": cache}),
                    ("cache-warm", {"jax_cache": cache}),
                ]
            for tag, hyper in variants:
                sub = out / (method + (f"-{tag}" if tag else ""))
                recs = run_grid(
                    list(models),
                    [method],
                    seeds=list(seeds),
                    budget=budget,
                    out=sub,
                    hyper={method: hyper} if hyper else None,
                    progress=False,
                )
                if tag == "cache-fill":
                    continue
                for r in recs:
                    r["variant"] = tag
                records += recs
    from geobayes.bench.report import write_reports

    out.mkdir(parents=True, exist_ok=True)
    write_reports(records, out)
    return records


def format_table(records) -> str:
    lines = [
        f"{'model':<14} {'library':<14} {'variant':<10} {'mean err':>8} {'ESS/s':>9} "
        f"{'wall s':>7} {'compile s':>9} {'cold call s':>11}"
    ]
    for r in records:
        if r.get("status") != "ok":
            lines.append(f"{r['model']:<14} {r['method']:<14} failed: {r.get('error')}")
            continue
        lines.append(
            f"{r['model']:<14} {r['method']:<14} {r.get('variant', ''):<10} "
            f"{r['max_mean_err']:>8.3f} {r['ess_bulk_per_s']:>9.1f} {r['wall_s']:>7.3f} "
            f"{r['compile_s']:>9.2f} {r['cold_call_s']:>11.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run()))
