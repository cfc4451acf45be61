"""``geobayes hgf``: run (or fit) a standard HGF on a CSV column.

Examples::

    geobayes hgf data.csv --column usdchf --levels 3 --update robust \\
        --out trace.nc --plot traj.png
    geobayes hgf inputs.csv --column u --binary --levels 3
    geobayes hgf data.csv --column usdchf --fit omega_x1,omega_x2 --draws 500 --out fit.nc
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

__all__ = ["register", "handler", "read_column"]

_EPILOG = """\
examples:
  geobayes hgf data.csv --column usdchf --levels 3 --update robust --out trace.nc --plot traj.png
  geobayes hgf data.csv --column u --binary --levels 3
  geobayes hgf data.csv --column usdchf --fit omega_x1,omega_x2 --draws 500 --out fit.nc
"""


def register(subparsers) -> None:
    """Add the ``hgf`` subcommand."""
    p = subparsers.add_parser(
        "hgf",
        help="hierarchical Gaussian filter on a CSV column",
        description="Run a standard 2- or 3-level HGF (classic, eHGF or robust Lambert-W "
        "volatility updates) on one column of a CSV file; print a summary, "
        "optionally write the trace (netCDF) and a PNG of the trajectories.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("csv", help="CSV file with a header row")
    p.add_argument(
        "--column",
        default=None,
        help="column name or 0-based index (default: the only/first column)",
    )
    p.add_argument("--levels", type=int, default=2, choices=(2, 3))
    p.add_argument("--binary", action="store_true", help="binary inputs (0/1): binary HGF")
    p.add_argument("--update", default="robust", help="robust (default), classic or ehgf")
    p.add_argument(
        "--prediction",
        default="mean_field",
        help="mean_field (classic HGF, default) or pyhgf (pyhgf >= 0.3)",
    )
    p.add_argument(
        "--omega",
        default=None,
        help="tonic volatilities, one or comma-separated per level (default -3); "
        "write --omega=-3,-4 for negative values",
    )
    p.add_argument("--kappa", default=None, help="volatility couplings (default 1)")
    p.add_argument(
        "--input-precision",
        type=float,
        default=None,
        help="input precision pi_u: continuous inputs (default 1e4); with --binary it "
        "makes the input a noisy binary one with sensory values 0 and 1",
    )
    p.add_argument("--on-failure", default="raise", help="raise (default) or nan")
    p.add_argument("--missing", default="error", help="error (default) or skip NaN values")
    p.add_argument(
        "--fit",
        default=None,
        help="comma-separated parameters to fit by HMC, e.g. omega_x1,omega_x2",
    )
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the trace to this netCDF file")
    p.add_argument("--plot", default=None, help="write a PNG of the trajectories")
    p.set_defaults(func=handler)


def read_column(path, column=None) -> tuple[np.ndarray, str]:
    """Read one numeric column of a CSV with a header; empty cells become NaN."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    with open(path) as fh:
        header = [h.strip().strip('"') for h in fh.readline().strip().split(",")]
    if not header or header == [""]:
        raise ValueError(f"{path} is empty")
    if column is None:
        idx = 0
    elif column in header:
        idx = header.index(column)
    else:
        try:
            idx = int(column)
        except ValueError:
            raise ValueError(
                f"column {column!r} not in {path.name} (columns: {', '.join(header)})"
            ) from None
        if not 0 <= idx < len(header):
            raise ValueError(
                f"column index {idx} out of range: {path.name} has {len(header)} columns"
            )
    try:
        data = np.genfromtxt(
            path, delimiter=",", skip_header=1, usecols=(idx,), dtype=np.float64, invalid_raise=True
        )
    except ValueError as exc:
        raise ValueError(f"{path.name}: {str(exc).splitlines()[0]}") from None
    data = np.atleast_1d(data)
    if data.size == 0:
        raise ValueError(f"{path.name} has no data rows")
    return data, header[idx]


def _floats(text, name):
    if text is None:
        return None
    try:
        vals = [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError(f"--{name} needs comma-separated numbers, got {text!r}") from None
    return vals[0] if len(vals) == 1 else vals


def _network(args):
    from geobayes.filters import hgf

    kw = {}
    om = _floats(args.omega, "omega")
    ka = _floats(args.kappa, "kappa")
    if om is not None:
        kw["tonic_volatility"] = om
    if ka is not None:
        kw["volatility_coupling"] = ka
    if args.binary:
        return hgf.binary_hgf(args.levels, input_precision=args.input_precision, **kw)
    pu = 1e4 if args.input_precision is None else args.input_precision
    return hgf.continuous_hgf(args.levels, input_precision=pu, **kw)


def _summary(tree, label) -> str:
    mean = tree["filtered"]["mean"]
    prec = tree["filtered"]["precision"]
    T = mean.sizes["time"]
    lines = [
        f"HGF on {label}: {T} observations, update {tree.attrs['update']}, "
        f"total surprise {tree.attrs['total_surprise']:.6g}"
    ]
    if tree.attrs.get("failed"):
        lines.append(
            f"  failed at step {tree.attrs['failed_step']} (node "
            f"{tree.attrs['failed_node']}): NaN from there on"
        )
    lines.append(f"  {'node':<6} {'final mean':>12} {'final sd':>12}")
    for node in mean.node.values:
        if node in tree["observed_data"]["observations"].input.values:
            continue
        m = float(mean.sel(node=node).values[-1])
        p = float(prec.sel(node=node).values[-1])
        sd = 1.0 / math.sqrt(p) if p > 0 and math.isfinite(p) else float("nan")
        lines.append(f"  {node:<6} {m:>12.6g} {sd:>12.6g}")
    return "\n".join(lines)


def plot_trajectories(tree, path, title="") -> None:
    """Posterior means with +-2 sd bands per state node; inputs on the lowest panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inputs = list(tree["observed_data"]["observations"].input.values)
    nodes = [n for n in tree["filtered"]["mean"].node.values if n not in inputs]
    fig, axes = plt.subplots(
        len(nodes), 1, figsize=(9, 2.3 * len(nodes)), sharex=True, squeeze=False
    )
    t = tree["filtered"]["mean"].time.values
    for ax, node in zip(axes[::-1, 0], nodes, strict=True):
        m = tree["filtered"]["mean"].sel(node=node).values
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = 1.0 / np.sqrt(tree["filtered"]["precision"].sel(node=node).values)
        ax.fill_between(t, m - 2 * sd, m + 2 * sd, alpha=0.3, lw=0)
        ax.plot(t, m, lw=1)
        ax.set_ylabel(node)
    low = axes[-1, 0]
    obs = tree["observed_data"]["observations"].values[:, 0]
    low.plot(t, obs, ".", ms=2, color="k", label=inputs[0])
    if tree["predicted"]["mean"].sel(node=inputs[0]).size and np.all(
        np.isin(obs[~np.isnan(obs)], (0.0, 1.0))
    ):
        low.plot(
            t, tree["predicted"]["mean"].sel(node=inputs[0]).values, lw=1, label="predicted P(u=1)"
        )
    low.legend(loc="upper left", fontsize=7)
    low.set_xlabel("time")
    axes[0, 0].set_title(title or f"HGF ({tree.attrs['update']} update)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def handler(args) -> int:
    """Run the ``hgf`` command; returns the exit code."""
    from geobayes.filters import hgf

    u, label = read_column(args.csv, args.column)
    net = _network(args)
    if args.fit:
        import geobayes
        from geobayes.filters.hgf.fit import hgf_model

        names = [s.strip() for s in args.fit.split(",") if s.strip()]
        model = hgf_model(net, u, names, update=args.update, prediction=args.prediction)
        trace = geobayes.sample(
            model,
            "hmc",
            draws=args.draws,
            warmup=args.warmup,
            chains=args.chains,
            seed=args.seed,
            progress=False,
        )
        post = trace["posterior"]
        print(
            f"HGF fit on {label}: {u.size} observations, update {args.update}, "
            f"{args.chains} chains x {args.draws} draws"
        )
        for nm in names:
            x = post[nm].values
            print(f"  {nm:<14} mean {x.mean():10.5g}  sd {x.std():10.5g}")
        if args.out:
            trace.to_netcdf(args.out)
            print(f"trace written to {args.out}")
        if args.plot:
            # trajectories at the posterior means
            fitted = {nm: float(post[nm].values.mean()) for nm in names}
            tree = _run_at(net, u, fitted, args)
            plot_trajectories(tree, args.plot, f"HGF at posterior means ({args.update})")
            print(f"plot written to {args.plot}")
        return 0
    tree = hgf.run(
        net,
        u,
        update=args.update,
        prediction=args.prediction,
        on_failure=args.on_failure,
        missing=args.missing,
    )
    print(_summary(tree, label))
    if args.out:
        tree.to_netcdf(args.out)
        print(f"trace written to {args.out}")
    if args.plot:
        plot_trajectories(tree, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _run_at(net, u, values, args):
    """Run ``net`` with fitted parameter values set (names as in hgf_model)."""
    from geobayes.filters import hgf
    from geobayes.filters.hgf import _kernels as K
    from geobayes.filters.hgf.fit import T_EDGE, T_NODE, _resolve

    for nm, v in values.items():
        fp = _resolve(net, nm)
        val = v  # posterior means are on the natural scale already
        if fp.target == T_NODE:
            nd = net.nodes[fp.index]
            attr = {
                K.OMEGA: "tonic_volatility",
                K.RHO: "tonic_drift",
                K.LAMBDA: "autoconnection",
                K.MEAN0: "mean",
                K.PREC0: "precision",
                K.INPUT_PREC: "input_precision",
            }
            setattr(nd, attr[fp.column], val)
        elif fp.target == T_EDGE:
            net.edges[fp.index].coupling = val
    return hgf.run(
        net,
        u,
        update=args.update,
        prediction=args.prediction,
        on_failure="nan",
        missing=args.missing,
    )
