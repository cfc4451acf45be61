"""``geobayes bench``: the benchmark grid, the filter benchmark and the scripted suites.

* ``geobayes bench --models M.. --methods X.. --seeds 0 1 --budget 5s --out DIR`` runs
  the grid with :func:`geobayes.bench.run_grid` (installed with the package);
* ``geobayes bench --filters --out DIR`` runs :func:`geobayes.bench.filters.run_filters`;
* ``geobayes bench SUITE ...`` runs a scripted suite of a source checkout's
  ``benchmarks/`` folder (``geobayes bench --list`` shows what is available).
"""

from __future__ import annotations

import argparse
import sys

from geobayes.cli._common import parse_key_values

__all__ = ["register"]

_EPILOG = """\
examples:
  geobayes bench --models gaussian eight_schools --methods hmc mala --seeds 0 1 \\
      --budget 2s --out bench-out
  geobayes bench --models posteriordb --methods hmc numpyro_nuts --budget 20000grad \\
      --param hmc.target_accept=0.9 --out pdb --executor dask
  geobayes bench --filters --out filters-out
  geobayes bench --list
"""


def _split(values):
    out = []
    for v in values or []:
        out += [p for p in v.replace(",", " ").split() if p]
    return out


def register(sub) -> None:
    """Add the bench command."""
    p = sub.add_parser(
        "bench",
        help="benchmark samplers (grid of models x methods x seeds) and filters",
        description="Run a benchmark grid of models x methods x seeds at a budget and write "
        "results.jsonl, results.md and plots to --out (rerunning resumes); or --filters; or "
        "scripted SUITEs of a source checkout. Without arguments, list models, methods and "
        "suites.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suites", nargs="*", metavar="SUITE", help="scripted suites (source checkout)")
    p.add_argument(
        "--models", nargs="+", help="models with references (or all/analytic/posteriordb)"
    )
    p.add_argument("--methods", nargs="+", help="geobayes methods and peers (or all-geobayes)")
    p.add_argument("--seeds", nargs="+", default=["0"], help="seeds (default: 0)")
    p.add_argument(
        "--budget",
        default="5s",
        help="per cell: wall seconds '5s' or gradient evaluations '20000grad'",
    )
    p.add_argument("--chains", type=int, default=4, help="chains per run (default: 4)")
    p.add_argument(
        "--param",
        action="append",
        metavar="METHOD.NAME=VALUE",
        help="a hyperparameter of one method, e.g. hmc.target_accept=0.9 (repeatable)",
    )
    p.add_argument("--out", default=None, help="output folder (created; rerun to resume)")
    p.add_argument("--reference-dir", default=None, help="posteriordb folder of reference draws")
    p.add_argument("--executor", default="local", help="local (default) or dask")
    p.add_argument("--scheduler", default=None, help="dask scheduler address (tcp://host:8786)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="local worker processes (default: 1; 0 = in this process)",
    )
    p.add_argument("--workers", type=int, default=2, help="workers of a new dask LocalCluster")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list models, methods and suites")
    p.add_argument("--filters", action="store_true", help="the filter benchmark (Lorenz settings)")
    p.add_argument("--configs", nargs="+", help="filter configurations (default: all)")
    p.add_argument(
        "--filter-methods", nargs="+", help="filter methods (default: all with a setting)"
    )
    p.add_argument(
        "--cycles", type=int, default=None, help="filter cycles per run (default: config's)"
    )
    p.add_argument("--dapper", default=None, help="python of a DAPPER environment (optional peer)")
    p.add_argument(
        "--args", default="", metavar="'ARGS'", help="options passed to script-style suites"
    )
    p.set_defaults(func=cmd_bench)


def _hyper(items, methods) -> dict:
    out: dict = {}
    for item in items or []:
        head = item.split("=", 1)[0]
        if "." not in head:
            raise ValueError(f"--param must look like METHOD.NAME=VALUE, got {item!r}")
        method, rest = item.split(".", 1)
        out.setdefault(method, {}).update(parse_key_values([rest], "--param"))
    return out


def _seeds(values):
    out = []
    for s in _split(values):
        try:
            out.append(int(s))
        except ValueError:
            raise ValueError(f"--seeds must be integers, got {s!r}") from None
    return out


def _list(reference_dir) -> int:
    from geobayes.bench.methods import method_names
    from geobayes.bench.suites import available_suites
    from geobayes.bench.targets import posteriordb_root, target_names

    print("models with references (--models):")
    print("  analytic:    " + ", ".join(target_names(reference_dir, "analytic")))
    pdb = target_names(reference_dir, "posteriordb")
    root = posteriordb_root(reference_dir)
    print(
        "  posteriordb: " + (", ".join(pdb) or "-") + f"  (reference folder: {root or 'not found'})"
    )
    print("methods (--methods): " + ", ".join(method_names()))
    suites = available_suites()
    if suites:
        print("scripted suites (source checkout):")
        width = max(len(n) for n in suites)
        for name, (_, text) in suites.items():
            print(f"  {name:<{width}}  {text}")
    print("filters: geobayes bench --filters --out DIR")
    return 0


def cmd_bench(args) -> int:
    """Run the grid, the filter benchmark or suites; list without arguments."""
    if args.suites:
        from geobayes.bench.suites import run_suites

        if args.models or args.methods or args.filters:
            raise ValueError("give either SUITE names or --models/--methods/--filters, not both")
        return run_suites(args.suites, args.out, args.args)
    if args.filters:
        from geobayes.bench.filters import run_filters

        if not args.out:
            raise ValueError("--filters needs --out DIR (the results folder)")
        run_filters(
            configs=_split(args.configs) or None,
            methods=_split(args.filter_methods) or None,
            seeds=_seeds(args.seeds),
            n_cycles=args.cycles,
            out=args.out,
            dapper_python=args.dapper,
            progress=not args.no_progress,
        )
        print(f"wrote {args.out}/filters.jsonl, filters.md")
        return 0
    if args.list or not (args.models or args.methods):
        return _list(args.reference_dir)
    if not args.models or not args.methods:
        raise ValueError("give both --models and --methods (geobayes bench --list shows them)")
    if not args.out:
        raise ValueError("--out DIR is needed (the results folder; rerun to resume)")
    from geobayes.bench import parse_budget, run_grid
    from geobayes.bench.grid import check_out_dir, resolve_methods

    methods = _split(args.methods)
    parse_budget(args.budget)
    if args.executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {args.executor!r}; available: local, dask")
    check_out_dir(args.out)
    resolved = resolve_methods(methods)
    records = run_grid(
        _split(args.models),
        resolved,
        seeds=_seeds(args.seeds),
        budget=args.budget,
        out=args.out,
        chains=args.chains,
        hyper=_hyper(args.param, resolved),
        reference_dir=args.reference_dir,
        executor=args.executor,
        jobs=args.jobs,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.no_progress,
        plots=not args.no_plots,
        log=lambda m: print(m, file=sys.stderr),
    )
    from geobayes.bench.report import table

    print(table(records))
    ok = sum(r.get("status") == "ok" for r in records)
    print(f"{ok} of {len(records)} cells ok; wrote {args.out}/results.jsonl, results.md")
    return 0 if ok == len(records) else 1
