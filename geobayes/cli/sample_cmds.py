"""Sampling commands: ``models``, ``methods``, ``sample``, ``summary``, ``demo``."""

from __future__ import annotations

import os
import sys
import time

from geobayes.cli._common import (
    add_overwrite,
    check_output,
    check_writable,
    parse_key_values,
    use_agg,
    write_atomically,
)

__all__ = ["register"]


def register(sub) -> None:
    """Add the sampling commands to an argparse subparsers object."""
    p = sub.add_parser(
        "models",
        help="list the built-in models",
        description="List the built-in models and their default arguments.",
    )
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "methods",
        help="list the sampling and filtering methods",
        description="List the sampling methods with their default hyperparameters, the "
        "filter methods and the HGF updates.",
    )
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser(
        "sample",
        help="sample a built-in model and write the trace (netCDF)",
        description="Sample a built-in model; writes an ArviZ trace (netCDF) and prints "
        "its summary.",
        epilog="examples: geobayes sample gaussian --model-arg dim=100 --method mala "
        "--param step_size=0.2 --out gauss.nc;  geobayes sample --pymc my_model.py:model "
        "(a pymc.Model, or a function returning one, defined in that file; needs "
        "pip install 'geobayes[pymc]')",
    )
    p.add_argument(
        "model", nargs="?", default=None, help="built-in model name (see 'geobayes models')"
    )
    p.add_argument(
        "--pymc",
        metavar="FILE.py:NAME",
        default=None,
        help="sample the PyMC model NAME defined in FILE.py instead of a built-in model",
    )
    p.add_argument("--method", default="nuts", help="sampling method (see 'geobayes methods')")
    p.add_argument(
        "--chains",
        type=int,
        default=None,
        help="number of chains (particle methods: independent replicates); default 4 for "
        "chain methods, 1 for particle methods",
    )
    p.add_argument(
        "--draws", type=int, default=None, help="draws kept per chain (chain methods; 1000)"
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warmup iterations per chain (chain methods; default: the method's, 1000 or 0 "
        "for dims)",
    )
    p.add_argument(
        "--n-particles", type=int, default=None, help="particles (particle methods: msip, shk)"
    )
    p.add_argument(
        "--n-steps", type=int, default=None, help="iterations (particle methods: msip, shk)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", default=None, help="netCDF file to write the trace to")
    p.add_argument(
        "--model-arg",
        action="append",
        metavar="NAME=VALUE",
        help="argument of the model constructor (repeatable), e.g. dim=100",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="method hyperparameter (repeatable), e.g. step_size=0.1",
    )
    p.add_argument("--save-warmup", action="store_true", help="keep the warmup draws")
    p.add_argument(
        "--resume",
        metavar="TRACE.nc",
        default=None,
        help="continue the run recorded in this trace (interrupted or finished): same "
        "method, warmup and random state; --draws (particle methods: --n-steps) is then "
        "the total wanted",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="compare with the model's reference draws (posteriordb posteriors and "
        "geobayes.models.register_posterior): mean error in combined MCSEs, sd ratio",
    )
    add_overwrite(p)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "summary",
        help="summarize a saved trace",
        description="Print the summary of a trace file written by geobayes: the ArviZ "
        "summary of a sampler's trace (weight-aware for weighted-particle traces), or "
        "RMSE, spread and evidence of a filter or HGF trace.",
    )
    p.add_argument("trace", help="netCDF file written by geobayes")
    p.add_argument(
        "--var",
        action="append",
        dest="var_names",
        metavar="NAME",
        help="variable to include (repeatable; default all)",
    )
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser(
        "demo",
        help="eight schools with HMC and MALA: summary, trace file and plot",
        description="Sample the eight schools model (non-centered) with HMC and MALA, print "
        "the ArviZ summaries and write the traces (netCDF) and a trace plot (PNG).",
    )
    p.add_argument("--out-dir", default="demo_output", help="folder for the files")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=cmd_demo)


def cmd_models(args) -> int:
    """Print the model registries: targets for sampling, state-space models for filtering."""
    from geobayes.filters import configs
    from geobayes.filters import models as ssm_models
    from geobayes.models.registry import REGISTRY

    print("models for 'geobayes sample' (geobayes.models.get):")
    width = max(len(n) for n in REGISTRY)
    for name in sorted(REGISTRY):
        print(f"  {name:<{width}}  {REGISTRY[name][1]}")
    print(
        "\nstate-space models for 'geobayes simulate' / 'geobayes filter' "
        "(geobayes.filters.models.get):"
    )
    print("  " + ", ".join(ssm_models.names()))
    print(
        "named benchmark configurations (geobayes.filters.configs): " + ", ".join(configs.names())
    )
    print("\nHGF networks: 'geobayes hgf DATA.csv' (see geobayes hgf --help)")
    return 0


def cmd_methods(args) -> int:
    """Print the sampling and filtering methods with their default hyperparameters."""
    from geobayes.filters import method_names
    from geobayes.samplers import METHODS

    print("sampling methods (geobayes sample --method; default nuts):")
    for name in sorted(METHODS):
        cls, text = METHODS[name]
        family = getattr(cls, "family", "chain")
        mark = " (default)" if name == "nuts" else ""
        print(f"  {name:<6}  {text} [{family} method]{mark}")
        print(f"          defaults: {cls()!r}")
    print("\nfilter methods (geobayes filter --method): " + ", ".join(method_names()))
    print("HGF updates (geobayes hgf --update): classic, ehgf, robust")
    return 0


def _print_summary(trace, var_names=None) -> None:
    import warnings

    import pandas as pd

    import geobayes

    with warnings.catch_warnings(record=True) as caught:  # signed weights: a note, not noise
        warnings.simplefilter("always", UserWarning)
        table = geobayes.summary(trace, var_names=var_names)
    if table.attrs:  # filter / HGF trace: the run's figures first
        print(", ".join(f"{k} {_fmt(v)}" for k, v in table.attrs.items()))
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(table)
    for w in caught:
        print(f"note: {w.message}")


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _interrupted_exit(trace, out) -> int:
    """Report an interrupted run (exit status 130, as a shell reports SIGINT)."""
    where = f"partial trace written to {out}" if out else "nothing written (no --out)"
    if "n_particles" in trace.attrs:  # particle method
        done = f"{int(trace.attrs.get('n_steps', 0))} iterations"
    else:
        done = f"{int(trace.attrs.get('draws', 0))} draws per chain"
    print(f"interrupted after {done}; {where}", file=sys.stderr)
    return 130


def cmd_sample(args) -> int:
    """Sample a built-in model; write the trace first, then print its summary."""
    import geobayes
    from geobayes.models import get
    from geobayes.samplers import METHODS

    check_output(args.out, overwrite=args.overwrite)
    if (args.model is None) == (args.pymc is None):
        raise ValueError("give either a built-in model name or --pymc FILE.py:NAME (not both)")
    if args.pymc is not None:
        if args.model_arg:
            raise ValueError("--model-arg applies to built-in models, not to --pymc")
        model = geobayes.Model.from_pymc(load_pymc_model(args.pymc))
    else:
        model = get(args.model, **parse_key_values(args.model_arg, "--model-arg"))
    params = parse_key_values(args.param, "--param")
    resumed = _read_trace(args.resume) if args.resume else None
    method_name = args.method if resumed is None else resumed.attrs.get("method", args.method)
    entry = METHODS.get(str(method_name).lower())
    particle = entry is not None and getattr(entry[0], "family", "chain") == "particle"
    if particle:
        for flag, value in (("--draws", args.draws), ("--warmup", args.warmup)):
            if value is not None:
                raise ValueError(
                    f"{flag} does not apply to the particle method {method_name!r}; "
                    "use --n-particles and --n-steps"
                )
        if args.save_warmup:
            raise ValueError(f"--save-warmup does not apply to the particle method {method_name!r}")
        for key, value in (("n_particles", args.n_particles), ("n_steps", args.n_steps)):
            if value is not None:
                params[key] = value
        run = {"chains": 1 if args.chains is None else args.chains}
    else:
        for flag, value in (("--n-particles", args.n_particles), ("--n-steps", args.n_steps)):
            if value is not None:
                raise ValueError(f"{flag} only applies to particle methods (msip, shk)")
        run = {
            "draws": 1000 if args.draws is None else args.draws,
            "warmup": args.warmup,
            "chains": 4 if args.chains is None else args.chains,
            "save_warmup": args.save_warmup,
        }
    reference = None
    if args.reference:
        if args.model is None:
            raise ValueError("--reference needs a built-in model name, not --pymc")
        reference = _reference_for(args.model)
    if args.resume:
        trace = geobayes.sample(
            model,
            resume=resumed,
            draws=args.draws,
            progress=not args.no_progress,
            **params,
        )
    else:
        trace = geobayes.sample(
            model,
            method=args.method,
            seed=args.seed,
            progress=not args.no_progress,
            **run,
            **params,
        )
    if args.out:  # written before anything else can fail or be interrupted
        with write_atomically(args.out) as tmp:
            trace.to_netcdf(tmp)
        print(f"wrote {args.out}")
    if trace.attrs.get("partial"):
        if int(trace.attrs.get("draws", trace.attrs.get("n_steps", 0))) > 0:
            _print_summary(trace)
        return _interrupted_exit(trace, args.out)
    if particle and trace.attrs.get("weighted", 0):
        w = trace.sample_stats["weight"].values
        print(
            f"{args.method}: {w.shape[1]} weighted particles per replicate, "
            f"{int((w < 0).sum())} negative weight(s); weighted summary:"
        )
    _print_summary(trace)
    print(
        f"sampling time {trace.attrs['sampling_time']:.3f} s, "
        f"{trace.attrs['divergences']} divergences"
        + (
            f", {trace.attrs['n_hit_T_max']} draws hit max_time (not on the minimum set)"
            if "n_hit_T_max" in trace.attrs
            else ""
        )
    )
    if reference is not None:
        _print_reference(trace, reference)
    return 0


def load_pymc_model(spec: str):
    """Import ``FILE.py`` and return its ``NAME``: a ``pymc.Model`` or a function making one."""
    import importlib.util
    import sys

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"--pymc must look like FILE.py:NAME, got {spec!r}")
    if not os.path.isfile(path):
        raise OSError(f"--pymc: no such file: {path}")
    try:
        import pymc
    except ImportError:
        raise ValueError("--pymc needs PyMC: pip install 'geobayes[pymc]'") from None
    module_name = "_geobayes_pymc_" + os.path.splitext(os.path.basename(path))[0]
    spec_obj = importlib.util.spec_from_file_location(module_name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise ValueError(f"--pymc: cannot import {path} as a Python file")
    module = importlib.util.module_from_spec(spec_obj)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec_obj.loader.exec_module(module)
    except Exception as exc:  # the user's file: report its error on one line
        raise ValueError(f"--pymc: importing {path} failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, name):
        found = [k for k, v in vars(module).items() if isinstance(v, pymc.Model)]
        raise ValueError(f"--pymc: {path} defines no {name!r}; PyMC models in it: {found}")
    obj = getattr(module, name)
    if not isinstance(obj, pymc.Model) and callable(obj):
        obj = obj()
    if not isinstance(obj, pymc.Model):
        raise TypeError(
            f"--pymc: {name!r} in {path} is a {type(obj).__name__}, not a pymc.Model "
            "(or a function returning one)"
        )
    return obj


def _reference_for(name: str):
    """The reference draws of a registered posterior, read before sampling (fail early)."""
    from geobayes.models import get_posterior, posteriors

    if name not in posteriors(aliases=True):
        raise ValueError(
            f"--reference: model {name!r} has no reference draws; posteriors with references: "
            + ", ".join(posteriors())
        )
    return get_posterior(name).load_reference()


def _print_reference(trace, reference) -> None:
    import pandas as pd

    table = reference.compare(trace)
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(f"\nreference: {reference.source}")
        print(table[["mean", "ref_mean", "z_mean", "sd", "ref_sd", "sd_ratio"]].round(4))
    z = float(table["z_mean"].abs().max())
    dsd = float((table["sd_ratio"] - 1).abs().max())
    verdict = "agrees" if z < 4 and dsd < 0.1 else "DISAGREES"
    print(
        f"max |mean error| = {z:.2f} combined MCSEs, max |sd ratio - 1| = {dsd:.3f}: "
        f"{verdict} (bounds 4 MCSEs, 10 %)"
    )


def _read_trace(path):
    import xarray as xr

    if not os.path.isfile(path):
        raise OSError(f"no such trace file: {path}")
    try:
        return xr.open_datatree(path).load()  # read fully: the file may be replaced later
    except Exception as exc:  # h5py/netCDF errors have many types
        raise OSError(f"cannot read {path} as a netCDF trace: {exc}") from None


def cmd_summary(args) -> int:
    """Print the summary of a trace file (sampler, filter or HGF trace)."""
    _print_summary(_read_trace(args.trace), args.var_names)
    return 0


def cmd_demo(args) -> int:
    """Eight schools with HMC and MALA."""
    import arviz as az

    import geobayes

    use_agg()
    os.makedirs(args.out_dir, exist_ok=True)
    check_writable(os.path.join(args.out_dir, "x"))
    model = geobayes.models.get("eight_schools")
    print(f"model: {model.description}; 4 chains x (1000 warmup + 1000 draws)\n")
    for method in ("hmc", "mala"):
        t0 = time.perf_counter()
        trace = geobayes.sample(
            model,
            method=method,
            chains=4,
            draws=1000,
            warmup=1000,
            seed=args.seed,
            progress=not args.no_progress,
        )
        wall = time.perf_counter() - t0
        print(
            f"== {method.upper()}: {wall:.2f} s wall (compilation included), "
            f"{trace.attrs['divergences']} divergences, "
            f"mean acceptance {float(trace.sample_stats['acceptance_rate'].mean()):.2f}"
        )
        _print_summary(trace, ["mu", "tau", "theta"])
        path = os.path.join(args.out_dir, f"eight_schools_{method}.nc")
        trace.to_netcdf(path)
        png = os.path.join(args.out_dir, f"eight_schools_{method}_trace.png")
        pc = az.plot_trace_dist(trace, var_names=["mu", "tau"], backend="matplotlib")
        pc.savefig(png)
        print(f"wrote {path} and {png}\n")
    print("reference posterior (posteriordb): mu 4.41 +- 3.31, tau 3.60 +- 3.20")
    return 0
