"""Accuracy and efficiency of the samplers on models with known answers (models x methods x seeds).

For every run: the largest error of a posterior mean in units of the true posterior sd
(``max_mean_err_sd``), the largest relative error of a posterior sd (``max_sd_rel_err``),
the smallest bulk ESS over parameters, ESS per second of sampling and ESS per 1000
gradient evaluations.  Reference answers are analytic (Gaussians, banana's ``x1``) or
posteriordb's reference posterior (eight schools; read from ``../shared`` when present).
Run: ``python -m benchmarks.posteriors``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

import geobayes

__all__ = ["run", "SUITE"]

_POSTERIORDB = Path(__file__).resolve().parents[2] / "shared" / "reference" / "posteriordb"


def _gaussian_ref(model):
    return "x", model.true_mean, np.sqrt(np.diag(model.true_cov))


def _eight_schools_ref(model):
    path = _POSTERIORDB / "eight_schools-eight_schools_noncentered" / "reference_summary.json"
    if not path.is_file():
        return None
    stats = json.loads(path.read_text())["statistics"]
    cols = ["mu", "tau"] + [f"theta[{j}]" for j in range(1, 9)]
    return (
        "eight_schools",
        np.array([stats[c]["mean"] for c in cols]),
        np.array([stats[c]["sd"] for c in cols]),
    )


#: name -> (model factory, reference function)
SUITE = {
    "gaussian_100": (lambda: geobayes.models.gaussian(dim=100), _gaussian_ref),
    "correlated_gaussian_1e4": (lambda: geobayes.models.correlated_gaussian(dim=10), _gaussian_ref),
    "eight_schools": (lambda: geobayes.models.get("eight_schools"), _eight_schools_ref),
}


def _flat_draws(trace, key):
    post = trace.posterior
    if key == "eight_schools":
        parts = [post["mu"].values[..., None], post["tau"].values[..., None], post["theta"].values]
        return np.concatenate(parts, axis=-1)
    return post[key].values


def run(
    models=None, methods=("hmc", "mala"), seeds=(0, 1, 2), draws=1000, warmup=1000, chains=4
) -> list[dict]:
    """Run the grid; returns one row per (model, method, seed)."""
    import arviz as az

    rows = []
    for name in models or SUITE:
        factory, ref_fn = SUITE[name]
        model = factory()
        ref = ref_fn(model)
        if ref is None:
            print(f"skipping {name}: reference posterior not found under {_POSTERIORDB}")
            continue
        key, mean, sd = ref
        for method in methods:
            for seed in seeds:
                tr = geobayes.sample(
                    model,
                    method=method,
                    draws=draws,
                    warmup=warmup,
                    chains=chains,
                    seed=seed,
                    progress=False,
                )
                x = _flat_draws(tr, key)
                ess = np.asarray(az.ess(x, method="bulk"))
                t = tr.attrs["sampling_time"]
                n_grad = tr.attrs["n_gradient_evals"]
                rows.append(
                    {
                        "model": name,
                        "method": method,
                        "seed": seed,
                        "max_mean_err_sd": float(np.max(np.abs(x.mean((0, 1)) - mean) / sd)),
                        "max_sd_rel_err": float(np.max(np.abs(x.std((0, 1), ddof=1) / sd - 1))),
                        "min_ess_bulk": float(ess.min()),
                        "sampling_s": float(t),
                        "ess_per_s": float(ess.min() / t),
                        "ess_per_1000_grad": float(1000 * ess.min() / n_grad),
                        "divergences": int(tr.attrs["divergences"]),
                    }
                )
    return rows


def format_table(rows) -> str:
    head = (
        f"{'model':<24} {'method':<6} {'seed':>4} {'mean err/sd':>11} {'sd rel err':>10} "
        f"{'min ESS':>8} {'ESS/s':>10} {'ESS/1k grad':>11} {'div':>4}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['model']:<24} {r['method']:<6} {r['seed']:>4} "
            f"{r['max_mean_err_sd']:>11.3f} {r['max_sd_rel_err']:>10.3f} "
            f"{r['min_ess_bulk']:>8.0f} {r['ess_per_s']:>10.0f} "
            f"{r['ess_per_1000_grad']:>11.1f} {r['divergences']:>4}"
        )
    return "\n".join(lines)


def plot(rows, path) -> None:
    """Bar chart of median ESS/s per model and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    methods = sorted({r["method"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        vals = [
            np.median([r["ess_per_s"] for r in rows if r["model"] == mo and r["method"] == m])
            for mo in models
        ]
        ax.bar(np.arange(len(models)) + j * width, vals, width, label=m)
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models)
    ax.set_yscale("log")
    ax.set_ylabel("min bulk ESS per second")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    res = run()
    print(format_table(res))
    os.makedirs("benchmarks/results", exist_ok=True)
    plot(res, "benchmarks/results/posteriors.png")
