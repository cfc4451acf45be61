"""Entry point of the ``geobayes`` command: builds the parser, prints errors as one line.

Each command module defines ``register(subparsers)``; its handlers take the parsed
arguments and return an exit code.  Errors in what the user asked for (``ValueError``,
``TypeError``, ``OSError``) are printed as ``error: ...`` and exit with status 2,
never as a traceback; set ``GEOBAYES_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from geobayes.cli._common import CommandParser, HelpFormatter

__all__ = ["main", "build_parser"]

_COMMAND_MODULES = (
    "geobayes.cli.sample_cmds",
    "geobayes.cli.filter_cmds",
    "geobayes.cli.hgf_cmds",
    "geobayes.cli.bench_cmds",
)

_DESCRIPTION = """\
Bayesian sampling and filtering with Numba-compiled kernels; every result is an
ArviZ trace (netCDF).

examples:
  geobayes models                                  list built-in models
  geobayes sample eight_schools --method hmc --out trace.nc
  geobayes summary trace.nc                        ArviZ summary of a saved trace
  geobayes demo                                    eight schools with HMC and MALA
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one subcommand per registered command)."""
    from geobayes import __version__

    parser = argparse.ArgumentParser(
        prog="geobayes",
        description=_DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"geobayes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command module not present in this build
                continue
            raise
        module.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``warning: ...`` line on stderr (no source path, no code line)."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `geobayes summary big.nc | head`: the reader left
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except MemoryError as exc:
        if os.environ.get("GEOBAYES_DEBUG"):
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"error: not enough memory{': ' + detail if detail else ''}; reduce the size of "
            "the run (draws, chains, ensemble size, cycles) or store less",
            file=sys.stderr,
        )
        return 2
    except (ValueError, TypeError, OSError, KeyError) as exc:
        if os.environ.get("GEOBAYES_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
