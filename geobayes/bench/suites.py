"""The scripted suites of a source checkout's ``benchmarks/`` folder.

Heavy paper-reproduction and peer scripts stay out of the package; ``geobayes bench
SUITE`` finds them in the checkout the package was installed from (editable install) or
in the working directory.  A suite is a module with ``run()`` + ``format_table()`` or a
script with ``main(argv)`` (see ``benchmarks/__init__.py``).  From a plain installation
there are none, and the grid (``geobayes bench --models ...``) is the way to benchmark.
"""

from __future__ import annotations

import importlib
import json
import shlex
import sys
from pathlib import Path

__all__ = ["available_suites", "run_suites", "checkout_root"]


def checkout_root() -> Path | None:
    """The folder holding ``benchmarks/__init__.py`` beside the package, or in the cwd."""
    import geobayes

    for base in (Path(geobayes.__file__).resolve().parents[1], Path.cwd()):
        if (base / "benchmarks" / "__init__.py").is_file() and (base / "pyproject.toml").is_file():
            return base
    return None


def available_suites() -> dict:
    """``name -> (module, description)`` of the checkout's suites (empty without one)."""
    root = checkout_root()
    if root is None:
        return {}
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return dict(importlib.import_module("benchmarks").SUITES)


def run_suites(names, out=None, script_args="") -> int:
    """Run suites by name, print their tables, optionally write all results as JSON."""
    from geobayes.cli._common import check_writable

    suites = available_suites()
    if not suites:
        raise OSError(
            "scripted suites need a source checkout (the benchmarks/ folder); from an "
            "installation use the grid: geobayes bench --models ... --methods ... --out DIR"
        )
    unknown = [s for s in names if s not in suites]
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(unknown)}; available: {', '.join(suites)}")
    check_writable(out)
    results = {}
    for name in names:
        module = importlib.import_module(suites[name][0])
        print(f"== {name}: {suites[name][1]}", flush=True)
        if not hasattr(module, "run") or not hasattr(module, "format_table"):
            code = module.main(shlex.split(script_args))
            if code:
                return int(code)
            continue
        res = module.run()
        print(module.format_table(res), flush=True)
        results[name] = res
    if out:
        Path(out).write_text(json.dumps(results, indent=1))
        print(f"wrote {out}")
    return 0
