"""Figure of ``accuracy.json``: MMD to reference draws against N, one panel per problem.

Run: ``python -m benchmarks.msip.plot_accuracy`` (after ``python -m benchmarks.msip.accuracy``);
writes ``benchmarks/msip/accuracy.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
METHODS = {
    "msip_gi": "MSIP gradient-informed",
    "msip_gf": "MSIP gradient-free",
    "iid": "i.i.d. exact draws",
    "mala": "MALA thinned to N",
    "svgd": "SVGD",
}


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = json.loads((HERE / "accuracy.json").read_text())
    probs = res["problems"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), constrained_layout=True)
    for ax, (name, rows) in zip(axes.ravel(), probs.items(), strict=False):
        ns = [r["N"] for r in rows]
        for key, label in METHODS.items():
            ax.loglog(ns, [max(r[key], 1e-4) for r in rows], marker="o", label=label)
        ax.set_title(name)
        ax.set_xlabel("N")
        ax.set_ylabel("MMD to reference")
        ax.grid(True, which="both", alpha=0.3)
    axes.ravel()[0].legend(fontsize=8)
    fig.suptitle("MSIP defaults (preconditioned, 300 iterations) vs baselines")
    out = HERE / "accuracy.png"
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
