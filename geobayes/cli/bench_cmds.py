"""``geobayes bench``: run benchmark suites from a source checkout and print their tables."""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
from pathlib import Path

from geobayes.cli._common import check_writable

__all__ = ["register"]


def _benchmarks():
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise OSError(
            "geobayes bench needs a source checkout: the benchmarks/ folder was not "
            "found beside the geobayes package (clone the repository and run "
            "'make bench')"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks")


def register(sub) -> None:
    """Add the bench command."""
    p = sub.add_parser(
        "bench",
        help="run benchmark suites (speed, accuracy, peers)",
        description="Run benchmark suites and print their tables; suites: overhead, "
        "first-draw, posteriors (and filters/hgf suites when present). With no suite, "
        "list them.",
        epilog="example: geobayes bench overhead posteriors --out results.json",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run")
    p.add_argument("--out", default=None, help="write all results as JSON to this file")
    p.add_argument(
        "--args",
        default="",
        metavar="'ARGS'",
        help="options passed to script-style suites (filters, hgf), e.g. '--quick'",
    )
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    """List or run suites."""
    bench = _benchmarks()
    suites = bench.SUITES
    if not args.suites:
        width = max(len(n) for n in suites)
        for name, (_, text) in suites.items():
            print(f"{name:<{width}}  {text}")
        return 0
    unknown = [s for s in args.suites if s not in suites]
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(unknown)}; available: {', '.join(suites)}")
    check_writable(args.out)
    results = {}
    for name in args.suites:
        module = importlib.import_module(suites[name][0])
        print(f"== {name}: {suites[name][1]}", flush=True)
        if not hasattr(module, "run") or not hasattr(module, "format_table"):
            code = module.main(shlex.split(args.args))  # writes its own report
            if code:
                return int(code)
            continue
        res = module.run()
        print(module.format_table(res), flush=True)
        results[name] = res
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")
    return 0
