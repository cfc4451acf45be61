"""Reports of a grid: a Markdown table and PNG plots from the cell records.

* ``results.md`` -- one row per (model, method): medians over seeds of the standardized
  errors, energy distance, bulk/tail ESS per second and per gradient, wall time of the
  measured call, compilation, gradient evaluations, divergences; then failed cells;
* ``error_vs_cost.png`` -- one panel per model: max standardized mean error against
  the cost of the run (wall seconds, or gradient evaluations for gradient budgets), one
  marker per method and seed;
* ``ess_per_s.png`` -- bulk ESS per second per method, grouped by model (log scale).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["table", "write_reports", "plot_error_vs_cost", "plot_ess_per_s"]

_COLS = [
    ("max_mean_err", "mean err/sd", "{:.3f}"),
    ("max_sd_err", "sd err", "{:.3f}"),
    ("energy_distance", "energy dist", "{:.4f}"),
    ("ess_bulk_per_s", "bulk ESS/s", "{:.1f}"),
    ("ess_tail_per_s", "tail ESS/s", "{:.1f}"),
    ("ess_bulk_per_grad", "bulk ESS/grad", "{:.4f}"),
    ("wall_s", "wall s", "{:.3f}"),
    ("compile_s", "compile s", "{:.2f}"),
    ("n_grad", "grads", "{:.0f}"),
    ("divergences", "div", "{:.0f}"),
]


def _median(vals):
    v = [x for x in vals if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.median(v)) if v else None


def _groups(records):
    out = {}
    for r in records:
        if r.get("status") == "ok":
            out.setdefault((r["model"], r["method"]), []).append(r)
    return out


def table(records) -> str:
    """Markdown table of medians over seeds, one row per (model, method)."""
    lines = [
        "| model | method | seeds | " + " | ".join(h for _, h, _ in _COLS) + " |",
        "|---|---|---:|" + "---:|" * len(_COLS),
    ]
    for (model, method), rs in sorted(_groups(records).items()):
        cells = []
        for key, _, fmt in _COLS:
            m = _median([r.get(key) for r in rs])
            cells.append("-" if m is None else fmt.format(m))
        lines.append(f"| {model} | {method} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _overhead(records) -> str:
    ok = [r for r in records if r.get("status") == "ok" and r.get("cell_s")]
    if not ok:
        return ""
    cell = sum(r["cell_s"] for r in ok)
    wall = sum(r.get("wall_s") or 0 for r in ok)
    return (
        f"Cells: {len(ok)}; measured calls {wall:.1f} s of {cell:.1f} s in cells "
        f"(setup, cold and warm pilot calls, metrics: {cell - wall:.1f} s)."
    )


def write_reports(records, out, *, plots=True, grid_wall_s=None) -> None:
    """Write ``results.md`` (and the plots) into ``out`` from the grid's records."""
    out = Path(out)
    budgets = sorted({r.get("budget") for r in records if r.get("budget")})
    text = [
        "# geobayes bench",
        "",
        f"Budget per cell: {', '.join(budgets) or '-'}. Medians over seeds; errors in units "
        "of the reference sd (max over columns); ESS is the minimum over columns (Kish ESS "
        "of the weights for weighted methods); wall s = the measured sampling call, "
        "compilation (cold minus warm call) separate.",
        "",
        table(records),
        "",
        _overhead(records),
    ]
    if grid_wall_s is not None:
        text.append(f"Grid wall time of this invocation: {grid_wall_s:.1f} s.")
    failed = [r for r in records if r.get("status") != "ok"]
    if failed:
        text += ["", "## Failed cells", ""]
        text += [
            f"- {r['model']} / {r['method']} / seed {r['seed']}: {r.get('error')}" for r in failed
        ]
    (out / "results.md").write_text("\n".join(text) + "\n")
    if plots and any(r.get("status") == "ok" for r in records):
        plot_error_vs_cost(records, out / "error_vs_cost.png")
        plot_ess_per_s(records, out / "ess_per_s.png")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_error_vs_cost(records, path) -> None:
    """One panel per model: max standardized mean error against cost, one colour per method."""
    plt = _plt()
    from matplotlib.ticker import NullFormatter

    ok = [r for r in records if r.get("status") == "ok"]
    models = sorted({r["model"] for r in ok})
    methods = sorted({r["method"] for r in ok})
    n = len(models)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=False):
        for j, meth in enumerate(methods):
            rs = [r for r in ok if r["model"] == model and r["method"] == meth]
            if not rs:
                continue
            use_grad = all(r.get("budget_kind") == "grad" and r.get("n_grad") for r in rs)
            x = [r["n_grad"] if use_grad else r["wall_s"] for r in rs]
            y = [max(r["max_mean_err"], 1e-4) for r in rs]
            ax.scatter(x, y, label=meth, color=f"C{j}", s=18)
            ax.set_xlabel("gradient evaluations" if use_grad else "wall s (measured call)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
        ax.set_title(model, fontsize=9)
        ax.set_ylabel("max |mean err| / ref sd")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_ess_per_s(records, path) -> None:
    """Grouped bars: median bulk ESS per second per method, one group per model."""
    plt = _plt()
    groups = _groups(records)
    models = sorted({m for m, _ in groups})
    methods = sorted({k for _, k in groups})
    # readable at any grid size: the width grows with the bars up to a page, then they thin
    width_in = min(16.0, max(5.0, 0.25 * len(models) * max(1, len(methods))))
    fig, ax = plt.subplots(figsize=(width_in, 4.5))
    width = 0.8 / max(len(methods), 1)
    for j, meth in enumerate(methods):
        vals = [
            _median([r.get("ess_bulk_per_s") for r in groups.get((mo, meth), [])]) or 0.0
            for mo in models
        ]
        ax.bar(np.arange(len(models)) + j * width, vals, width, label=meth, color=f"C{j}")
    labels = [m.split("-")[0] for m in models]  # posteriordb names: the posterior's part
    if len(set(labels)) < len(labels):
        labels = models
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, labels, rotation=20, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("min bulk ESS per second")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
