"""Baselines on the non-Gaussian problems of filters spec §7.3 (geobayes only).

Usage (from the repository root)::

    .venv/bin/python benchmarks/filters/nongaussian.py [--seeds 5] [--cycles 1000]

These are the numbers a new method (the transport filter) has to beat: medians
over seeds of the time-mean analysis RMSE and spread after burn-in, and for
the static bimodal problem the energy distance (``scipy.stats.energy_distance``)
between the analysis ensemble and the exact posterior (quadrature on a grid).
Writes ``NONGAUSSIAN.md`` beside this file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from geobayes.filters import ETKF, LETKF, EnKF, ParticleFilter, filter, models  # noqa: E402


def bimodal_rows(seeds):
    from scipy.stats import energy_distance

    ssm = models.bimodal()
    grid = np.linspace(-4, 4, 20001)
    logp = -0.5 * grid**2 - 0.5 * (1.0 - grid**2) ** 2 / 0.01
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p) / p.sum()
    exact = np.interp((np.arange(20000) + 0.5) / 20000, cdf, grid)
    rows = []
    for label, method in [
        ("EnKF N=200", EnKF(ensemble_size=200)),
        ("ETKF N=200", ETKF(ensemble_size=200)),
        ("PF N=200", ParticleFilter(ensemble_size=200, resample_threshold=1.0)),
        ("PF N=2000", ParticleFilter(ensemble_size=2000, resample_threshold=1.0)),
    ]:
        ed, near, pos = [], [], []
        for s in seeds:
            t = filter(ssm, np.array([[1.0]]), method, seed=s, store="ensemble")
            x = t.posterior["ensemble"].values[0, :, 0, 0]
            ed.append(energy_distance(x, exact))
            near.append(np.mean(np.abs(np.abs(x) - 1) < 0.2))
            pos.append(np.mean(x > 0))
        rows.append(
            f"| bimodal y*=1 | {label} | energy distance {np.median(ed):.3f} | "
            f"within 0.2 of ±1: {np.median(near):.2f} | fraction x>0: "
            f"{np.median(pos):.2f} |"
        )
    return rows


def sequential_rows(seeds, cycles):
    problems = [
        (
            "lorenz63_cubic",
            64,
            [
                ("EnKF N=20 infl 1.04", EnKF(ensemble_size=20, inflation=1.04)),
                ("ETKF N=20 infl 1.04", ETKF(ensemble_size=20, inflation=1.04)),
                (
                    "PF N=1000 reg 0.9 NER 0.3",
                    ParticleFilter(ensemble_size=1000, regularization=0.9, resample_threshold=0.3),
                ),
            ],
        ),
        (
            "lorenz63_sparse",
            32,
            [
                ("EnKF N=20 infl 1.04", EnKF(ensemble_size=20, inflation=1.04)),
                ("ETKF N=20 infl 1.04", ETKF(ensemble_size=20, inflation=1.04)),
                (
                    "PF N=1000 reg 0.9 NER 0.3",
                    ParticleFilter(ensemble_size=1000, regularization=0.9, resample_threshold=0.3),
                ),
            ],
        ),
        (
            "lorenz96_abs",
            400,
            [
                (
                    "LETKF N=20 infl 1.04 loc 4",
                    LETKF(ensemble_size=20, inflation=1.04, localization_radius=4.0),
                ),
                ("EnKF N=40 infl 1.06", EnKF(ensemble_size=40, inflation=1.06)),
            ],
        ),
        (
            "lorenz96_half",
            400,
            [
                (
                    "LETKF N=20 infl 1.04 loc 4",
                    LETKF(ensemble_size=20, inflation=1.04, localization_radius=4.0),
                ),
                ("ETKF N=24 infl 1.02", ETKF(ensemble_size=24, inflation=1.02)),
            ],
        ),
    ]
    rows = []
    for name, burn, methods in problems:
        ssm = models.get(name)
        for label, method in methods:
            rm, sp, secs = [], [], []
            for s in seeds:
                ss = np.random.SeedSequence(s)
                sim, filt = ss.spawn(2)
                x, y = ssm.simulate(cycles, seed=sim)
                t = filter(ssm, y, method, seed=filt, truth=x, burn_in=min(burn, cycles // 2))
                rm.append(t.attrs["rmse_mean"])
                sp.append(t.attrs["spread_mean"])
                secs.append(t.attrs["filtering_time"] / cycles)
            rows.append(
                f"| {name} | {label} | {np.median(rm):.3f} [{min(rm):.3f}, "
                f"{max(rm):.3f}] | {np.median(sp):.3f} | {1e3 * np.median(secs):.3f} |"
            )
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--cycles", type=int, default=1000)
    args = p.parse_args(argv)
    seeds = list(range(args.seeds))
    lines = [
        "# Non-Gaussian baselines (filters spec §7.3)",
        "",
        f"Medians over {len(seeds)} seeds; {args.cycles} cycles for the sequential "
        "problems (burn-in: 16 time units for L63, 20 for L96).",
        "",
        "## Static bimodal problem",
        "",
        "| problem | method | | | |",
        "|---|---|---|---|---|",
    ]
    lines += bimodal_rows(seeds)
    lines += [
        "",
        "## Sequential problems",
        "",
        "| model | method | rmse [min, max] | spread | ms/cycle |",
        "|---|---|---|---|---|",
    ]
    lines += sequential_rows(seeds, args.cycles)
    text = "\n".join(lines) + "\n"
    (HERE / "NONGAUSSIAN.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
