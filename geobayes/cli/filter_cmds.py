"""``geobayes simulate`` and ``geobayes filter``: data assimilation from the command line.

Examples
--------
Simulate the Sakov (2012) Lorenz-63 setting and filter it with the ETKF::

    geobayes simulate lorenz63 --cycles 1000 --seed 1 --out l63.nc
    geobayes filter lorenz63 --data l63.nc --method etkf --ensemble-size 10 \\
        --param inflation=1.02 --param rotate=True --burn-in 64 --out trace.nc --plot l63.png

or in one go from a named configuration (its cycles, burn-in and reference RMSEs)::

    geobayes filter sakov2008 --method letkf --ensemble-size 10 --param inflation=1.04

or the likelihood-free transport filter on a non-Gaussian setting::

    geobayes filter lorenz63_cubic --method transport --ensemble-size 100
"""

from __future__ import annotations

import argparse
import json
import sys

from ._common import (
    CommandParser,
    add_overwrite,
    check_output,
    parse_key_values,
    use_agg,
    write_atomically,
)

__all__ = ["register", "simulate_handler", "filter_handler", "main"]


def _names():
    from geobayes.filters import configs, method_names, models

    return models.names(), configs.names(), method_names()


def _epilog():
    model_names, config_names, methods = _names()
    return (
        f"models: {', '.join(model_names)}\n\n"
        f"configurations: {', '.join(config_names)}\n\n"
        f"methods: {', '.join(methods)}"
    )


def register(subparsers) -> None:
    """Add the ``simulate`` and ``filter`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate truth and observations of a state-space model",
        description="Simulate a truth trajectory and its observations from a built-in "
        "state-space model and write them to a netCDF file.",
        epilog=_epilog(),
    )
    p.add_argument("model", help="built-in model or configuration name")
    p.add_argument(
        "--cycles",
        type=int,
        default=None,
        help="assimilation cycles (default: 1000, or the configuration's)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--model-arg",
        action="append",
        metavar="NAME=VALUE",
        help="model parameter, e.g. dim=400 (repeatable)",
    )
    p.add_argument("--out", required=True, help="output netCDF file")
    add_overwrite(p)
    p.set_defaults(func=simulate_handler)

    p = subparsers.add_parser(
        "filter",
        help="filter observations of a state-space model (EnKF, ETKF, LETKF, PF, KF, transport)",
        description="Filter observations (from --data, or simulated from the model), print "
        "RMSE and spread, and optionally write the trace and a plot.",
        epilog=_epilog(),
    )
    p.add_argument("model", help="built-in model or configuration name")
    p.add_argument("--method", default="etkf", help="filter method (see the list below)")
    p.add_argument("--ensemble-size", type=int, default=None, help="members or particles")
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="method parameter, e.g. inflation=1.02 (repeatable)",
    )
    p.add_argument(
        "--model-arg",
        action="append",
        metavar="NAME=VALUE",
        help="model parameter, e.g. dim=400 (repeatable)",
    )
    p.add_argument("--data", help="netCDF from `geobayes simulate` (default: simulate)")
    p.add_argument(
        "--cycles",
        type=int,
        default=None,
        help="cycles to simulate when no --data (default 1000 or the configuration's)",
    )
    p.add_argument("--sim-seed", type=int, default=0, help="seed of the simulation")
    p.add_argument("--seed", type=int, default=1, help="seed of the filter")
    p.add_argument(
        "--burn-in",
        type=int,
        default=None,
        help="cycles left out of the RMSE mean (default: the configuration's or 0)",
    )
    p.add_argument(
        "--store",
        choices=("moments", "ensemble"),
        default="moments",
        help="keep the filtered means and sds only, or every member at every cycle",
    )
    p.add_argument("--out", help="write the trace (netCDF)")
    p.add_argument(
        "--plot", help="write a picture (.png, .pdf, .svg) of truth, estimate and spread band"
    )
    add_overwrite(p)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Numba threads (default: chosen from problem size and idle cores)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=filter_handler)


def _model_and_config(name, model_args):
    from geobayes.filters import configs, models

    if name in configs.names():
        cfg = configs.get(name, **model_args)
        return cfg.ssm, cfg
    return models.get(name, **model_args), None


def simulate_handler(args) -> int:
    """Write ``truth`` and ``observations`` of a simulated run to ``args.out``."""
    import xarray as xr

    check_output(args.out, overwrite=args.overwrite)
    model_args = parse_key_values(args.model_arg, "--model-arg")
    ssm, cfg = _model_and_config(args.model, model_args)
    cycles = _cycles(args.cycles, cfg)
    x, y = ssm.simulate(cycles, seed=args.seed)
    ds = xr.Dataset(
        {"truth": (("time", "state"), x), "observations": (("time", "obs"), y)},
        coords={"time": ssm.times(cycles)},
        attrs={"model": args.model, "model_args": json.dumps(model_args), "seed": args.seed},
    )
    with write_atomically(args.out) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    print(f"wrote {args.out}: {cycles} cycles of {ssm.name} (state {ssm.dim}, obs {ssm.obs_dim})")
    return 0


def _cycles(cycles, cfg) -> int:
    """``--cycles``: the given number (>= 1), else the configuration's or 1000."""
    if cycles is None:
        return cfg.n_cycles if cfg else 1000
    if cycles < 1:
        raise ValueError(f"--cycles must be >= 1, got {cycles}")
    return cycles


def _load_data(path, ssm):
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        if "observations" not in ds:
            raise ValueError(
                f"{path} has no 'observations' variable (write it with `geobayes simulate`)"
            )
        y = ds["observations"].values
        x = ds["truth"].values if "truth" in ds else None
    if x is not None and x.shape[1] != ssm.dim:
        raise ValueError(f"{path}: truth has {x.shape[1]} components, model has {ssm.dim}")
    return x, y


def filter_handler(args) -> int:
    """Filter, print RMSE/spread, optionally save the trace and a plot."""
    from geobayes.filters import filter as run_filter

    check_output(args.out, overwrite=args.overwrite)
    check_output(args.plot, overwrite=args.overwrite, option="--plot", image=True)
    model_args = parse_key_values(args.model_arg, "--model-arg")
    params = parse_key_values(args.param, "--param")
    ssm, cfg = _model_and_config(args.model, model_args)
    if args.data:
        x, y = _load_data(args.data, ssm)
    else:
        x, y = ssm.simulate(_cycles(args.cycles, cfg), seed=args.sim_seed)
    burn_in = args.burn_in
    if burn_in is None:
        burn_in = min(cfg.burn_in, len(y) // 2) if cfg else 0
    tree = run_filter(
        ssm,
        y,
        args.method,
        ensemble_size=args.ensemble_size,
        seed=args.seed,
        truth=x,
        store=args.store,
        progress=not args.no_progress,
        burn_in=burn_in,
        threads=args.threads,
        **params,
    )
    if args.out:  # written first: nothing finished is lost to a later failure
        with write_atomically(args.out) as tmp:
            tree.to_netcdf(tmp, engine="h5netcdf")
        print(f"wrote {args.out}")
    if args.plot:
        with write_atomically(args.plot) as tmp:
            _plot(tree, tmp)
        print(f"wrote {args.plot}")
    a = tree.attrs
    line = f"{a['method']} on {ssm.name}: {a['n_cycles']} cycles"
    if "rmse_mean" in a:
        line += f", rmse {a['rmse_mean']:.4f}"
    line += f", spread {a['spread_mean']:.4f}"
    if "log_evidence" in a:
        line += f", log-evidence {a['log_evidence']:.3f}"
    line += f" (burn-in {a['burn_in']}, {a['filtering_time']:.2f} s)"
    print(line)
    if cfg is not None:
        ref = _matching_reference(cfg, args.method, args.ensemble_size, params)
        if ref is not None:
            print(
                f"reference rmse.a for {ref.label} in {cfg.name}: {ref.rmse:.2f} "
                f"({cfg.source.split(';')[0]})"
            )
    if a.get("diverged"):
        print(
            "warning: the ensemble became non-finite; the trace holds the cycles before it",
            file=sys.stderr,
        )
    elif a.get("partial"):
        where = f"written to {args.out}" if args.out else "not written (no --out)"
        print(f"interrupted after {a['n_cycles']} cycles; partial trace {where}", file=sys.stderr)
        return 130
    return 0


def _matching_reference(cfg, method, ensemble_size, params):
    """The configuration's reference entry for exactly this method setting, if any."""
    from geobayes.filters import get_method

    kw = dict(params)
    if ensemble_size is not None:
        kw["ensemble_size"] = ensemble_size
    try:
        front = get_method(method, **kw)
    except (TypeError, ValueError):
        return None
    return next((r for r in cfg.references if r.method == front), None)


def _plot(tree, path, max_components=3):
    use_agg()
    import matplotlib.pyplot as plt

    t = tree.filtered["time"].values
    mean, sd = tree.filtered["mean"].values, tree.filtered["sd"].values
    d = mean.shape[1]
    comps = list(range(min(d, max_components)))
    fig, axes = plt.subplots(
        len(comps), 1, figsize=(9, 2.2 * len(comps)), sharex=True, squeeze=False
    )
    for ax, j in zip(axes[:, 0], comps, strict=True):
        if "truth" in tree.children:
            ax.plot(t, tree.truth["x"].values[:, j], "k-", lw=1.0, label="truth")
        ax.plot(t, mean[:, j], "C0-", lw=1.0, label="analysis mean")
        ax.fill_between(
            t,
            mean[:, j] - 2 * sd[:, j],
            mean[:, j] + 2 * sd[:, j],
            color="C0",
            alpha=0.25,
            lw=0,
            label="mean ± 2 sd",
        )
        ax.set_ylabel(f"x[{j}]")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("time")
    title = f"{tree.attrs['method']} on {tree.attrs['ssm']}"
    if "rmse_mean" in tree.attrs:
        title += f" (rmse {tree.attrs['rmse_mean']:.3f})"
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    """Run these subcommands alone (``python -m geobayes.cli.filter_cmds filter ...``)."""
    parser = argparse.ArgumentParser(prog="geobayes")
    register(parser.add_subparsers(dest="command", required=True, parser_class=CommandParser))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, KeyError) as exc:
        print(
            f"error: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
