"""``geobayes hgf``: run (or fit) a standard HGF on a CSV column.

Examples::

    geobayes hgf data.csv --column usdchf --levels 3 --update robust \\
        --out trace.nc --plot traj.png
    geobayes hgf inputs.csv --column u --binary --levels 3
    geobayes hgf data.csv --column usdchf --fit omega_x1,omega_x2 --draws 500 --out fit.nc
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from geobayes.cli._common import add_overwrite, check_output, write_atomically

__all__ = ["register", "handler", "read_column"]

_EPILOG = """\
examples:
  geobayes hgf data.csv --column usdchf --levels 3 --update robust --out trace.nc --plot traj.png
  geobayes hgf data.csv --column u --binary --levels 3
  geobayes hgf data.csv --column usdchf --fit omega_x1,omega_x2 --draws 500 --out fit.nc
"""


def _enum_name(cls_name):
    """argparse ``type``: the canonical name of an HGF variant (accepts its aliases)."""

    def parse(text):
        from geobayes.filters.hgf import network

        try:
            return getattr(network, cls_name).parse(text).name.lower()
        except ValueError:
            return text  # argparse then lists the valid choices

    return parse


def register(subparsers) -> None:
    """Add the ``hgf`` subcommand."""
    p = subparsers.add_parser(
        "hgf",
        help="hierarchical Gaussian filter on a CSV column",
        description="Run a standard 2- or 3-level HGF (classic, eHGF or robust Lambert-W "
        "volatility updates) on one column of a CSV file; print a summary, "
        "optionally write the trace (netCDF) and a PNG of the trajectories.",
        epilog=_EPILOG,
    )
    p.add_argument("csv", help="CSV file with a header row")
    p.add_argument(
        "--column",
        default=None,
        help="column name or 0-based index (default: the only/first column)",
    )
    p.add_argument(
        "--levels", type=int, default=2, choices=(2, 3), help="number of levels of the HGF"
    )
    p.add_argument("--binary", action="store_true", help="binary inputs (0/1): binary HGF")
    p.add_argument(
        "--update",
        default="robust",
        type=_enum_name("Update"),
        choices=("robust", "classic", "ehgf"),
        help="volatility update: robust (Lambert-W, precision always positive), classic "
        "(Mathys et al.) or ehgf (Weber et al.)",
    )
    p.add_argument(
        "--prediction",
        default="mean_field",
        type=_enum_name("Prediction"),
        choices=("mean_field", "pyhgf"),
        help="prediction step: mean_field (classic HGF) or pyhgf (as pyhgf >= 0.3)",
    )
    p.add_argument(
        "--omega",
        default=None,
        help="tonic volatilities, one or comma-separated per level (default -3); "
        "write --omega=-3,-4 for negative values",
    )
    p.add_argument(
        "--kappa",
        default=None,
        help="volatility couplings, one or comma-separated per edge (default 1)",
    )
    p.add_argument(
        "--input-precision",
        type=float,
        default=None,
        help="input precision pi_u: continuous inputs (default 1e4); with --binary it "
        "makes the input a noisy binary one with sensory values 0 and 1",
    )
    p.add_argument(
        "--on-failure",
        default="raise",
        choices=("raise", "nan"),
        help="when an update fails (classic/eHGF precision <= 0): stop with an error, or "
        "continue with NaN from that step on",
    )
    p.add_argument(
        "--missing",
        default="error",
        choices=("error", "skip"),
        help="an empty or NA cell in the column: report it as an error, or skip that "
        "step (the time index is kept)",
    )
    p.add_argument(
        "--fit",
        default=None,
        help="comma-separated parameters to fit by HMC, e.g. omega_x1,omega_x2",
    )
    p.add_argument("--draws", type=int, default=1000, help="with --fit: draws per chain")
    p.add_argument("--warmup", type=int, default=1000, help="with --fit: warmup per chain")
    p.add_argument("--chains", type=int, default=4, help="with --fit: number of chains")
    p.add_argument("--seed", type=int, default=0, help="with --fit: random seed")
    p.add_argument("--out", default=None, help="write the trace to this netCDF file")
    p.add_argument(
        "--plot", default=None, help="write a picture of the trajectories (.png, .pdf, .svg)"
    )
    add_overwrite(p)
    p.set_defaults(func=handler)


_MISSING_TOKENS = {"", "na", "nan", "null", "none"}


def read_column(path, column=None, missing="error") -> tuple[np.ndarray, str]:
    """Read one numeric column of a CSV file with a header row.

    The file is read with the standard library's CSV reader, so quoted fields, blank
    lines and short rows are seen for what they are: a blank line or an empty (or
    ``NA``/``NaN``) cell is a *missing* value, which is an error naming its line and
    column unless ``missing="skip"`` (then it becomes NaN and the HGF skips that step,
    keeping the time index).  A cell that is not a number is always an error naming its
    line and column.  Blank lines at the end of the file are ignored.
    """
    import csv

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or not any(c.strip() for c in rows[0]):
        raise ValueError(f"{path} is empty (a header row naming the columns is needed)")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    while body and not any(c.strip() for c in body[-1]):
        body.pop()  # trailing blank lines
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
    name = header[idx]
    if not body:
        raise ValueError(f"{path.name} has no data rows")
    data = np.empty(len(body))
    for i, row in enumerate(body):
        line = i + 2  # 1-based, after the header
        cell = row[idx].strip() if idx < len(row) else ""
        if cell.lower() in _MISSING_TOKENS:
            if missing == "error":
                raise ValueError(
                    f"{path.name}, line {line}, column {name!r}: missing value "
                    f"({'empty cell' if not cell else repr(cell)}); fill it in, or pass "
                    "--missing skip to let the HGF skip that step"
                )
            data[i] = np.nan
            continue
        try:
            data[i] = float(cell)
        except ValueError:
            raise ValueError(
                f"{path.name}, line {line}, column {name!r}: {cell!r} is not a number"
            ) from None
    return data, name


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

    check_output(args.out, overwrite=args.overwrite)
    check_output(args.plot, overwrite=args.overwrite, option="--plot", image=True)
    u, label = read_column(args.csv, args.column, args.missing)
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
            with write_atomically(args.out) as tmp:
                trace.to_netcdf(tmp)
            print(f"trace written to {args.out}")
        if args.plot:
            # trajectories at the posterior means
            fitted = {nm: float(post[nm].values.mean()) for nm in names}
            tree = _run_at(net, u, fitted, args)
            with write_atomically(args.plot) as tmp:
                plot_trajectories(tree, tmp, f"HGF at posterior means ({args.update})")
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
    if args.out:  # written before the summary: nothing finished is lost
        with write_atomically(args.out) as tmp:
            tree.to_netcdf(tmp)
        print(f"trace written to {args.out}")
    print(_summary(tree, label))
    if args.plot:
        with write_atomically(args.plot) as tmp:
            plot_trajectories(tree, tmp)
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
