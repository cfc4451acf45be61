"""Transport filter against EnKF / ETKF / LETKF and a large-N particle filter (spec §7.3).

Usage (from the repository root)::

    .venv/bin/python benchmarks/filters/transport_bench.py [--seeds 5] [--l63-cycles 1000]
        [--l96-cycles 600] [--sizes 20,40,100] [--only l63,l96,bimodal]

The paper's own experiments (arXiv 2605.13174) could not be retrieved (only
its abstract), so this is the library set of filters spec §7.3:

* static bimodal ``y = x^2 + eps`` at ``y* = 1``: energy distance and MMD to
  the exact posterior (quadrature);
* Lorenz-63 standard, cubic (``x^3/100``) and sparse (``x_1`` every 0.5,
  ``R = 4``); Lorenz-96 (40 variables) standard and ``|x|``: time-mean
  analysis RMSE and spread after burn-in, time per cycle, and for the L63
  problems the energy distance between each analysis ensemble and the
  weighted ensemble of a particle filter with ``N_ref`` particles run on the
  same observations (every 10th cycle after burn-in).

Medians over seeds (every method sees the same truth and observations for a
seed).  Writes ``TRANSPORT_RESULTS.md`` and ``transport_results.json`` beside
this file.  Timings are wall time of the filter only (kernels warmed first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from geobayes.filters import (  # noqa: E402
    ETKF,
    LETKF,
    EnKF,
    ParticleFilter,
    TransportFilter,
    filter,
    models,
)


def energy_distance(X, Y, wy=None):
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` (square root not taken), weights on Y."""
    X = np.asarray(X, float).reshape(len(X), -1)
    Y = np.asarray(Y, float).reshape(len(Y), -1)
    wx = np.full(len(X), 1.0 / len(X))
    wy = np.full(len(Y), 1.0 / len(Y)) if wy is None else wy / wy.sum()

    def md(A, B, wa, wb):
        D = np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
        return wa @ D @ wb

    return 2 * md(X, Y, wx, wy) - md(X, X, wx, wx) - md(Y, Y, wy, wy)


def mmd2(X, Y, h):
    """Gaussian-kernel MMD^2 (V-statistic) with bandwidth ``h``."""
    X = np.asarray(X, float).reshape(len(X), -1)
    Y = np.asarray(Y, float).reshape(len(Y), -1)

    def km(A, B):
        return np.exp(-((A[:, None, :] - B[None, :, :]) ** 2).sum(-1) / (2 * h * h)).mean()

    return km(X, X) + km(Y, Y) - 2 * km(X, Y)


def bimodal_exact(n=4000):
    grid = np.linspace(-4, 4, 20001)
    logp = -0.5 * grid**2 - 0.5 * (1.0 - grid**2) ** 2 / 0.01
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p) / p.sum()
    return np.interp((np.arange(n) + 0.5) / n, cdf, grid)


def bimodal_rows(seeds):
    ssm = models.bimodal()
    exact = bimodal_exact()
    y = np.array([[1.0]])
    rows = []
    methods = [
        (
            "transport N=200 c_h=0.5 L=400",
            TransportFilter(200, bandwidth_factor=0.5, max_steps=400),
        ),
        (
            "transport N=100 c_h=0.5 L=400",
            TransportFilter(100, bandwidth_factor=0.5, max_steps=400),
        ),
        ("EnKF N=200", EnKF(ensemble_size=200)),
        ("ETKF N=200", ETKF(ensemble_size=200)),
        ("PF N=200", ParticleFilter(ensemble_size=200, resample_threshold=1.0)),
    ]
    for label, method in methods:
        ed, mm, near, pos = [], [], [], []
        for s in seeds:
            t = filter(ssm, y, method, seed=s, store="ensemble")
            x = t.posterior["ensemble"].values[0, :, 0, 0]
            ed.append(energy_distance(x, exact))
            mm.append(mmd2(x, exact, 0.2))
            near.append(np.mean(np.abs(np.abs(x) - 1) < 0.2))
            pos.append(np.mean(x > 0))
        rows.append(
            dict(
                problem="bimodal",
                method=label,
                energy=float(np.median(ed)),
                mmd2=float(np.median(mm)),
                near=float(np.median(near)),
                pos=float(np.median(pos)),
            )
        )
        print(rows[-1], flush=True)
    return rows


def _pf_reference(ssm, y, seed, n_ref, reg, ner):
    pf = ParticleFilter(ensemble_size=n_ref, regularization=reg, resample_threshold=ner)
    return filter(ssm, y, pf, seed=seed, store="ensemble")


def _ens_energy(t, ref, times, rng, n_sub=400):
    """Median over ``times`` of the energy distance to the PF reference's weighted ensemble."""
    E = t.posterior["ensemble"].values[0]  # (N, K, d)
    R = ref.posterior["ensemble"].values[0]
    lw = ref.posterior["log_weight"].values[0]  # (N_ref, K)
    out = []
    for k in times:
        w = np.exp(lw[:, k] - lw[:, k].max())
        w /= w.sum()
        idx = rng.choice(len(w), size=n_sub, p=w)  # a weighted subsample keeps it cheap
        out.append(energy_distance(E[:, k], R[idx, k]))
    return float(np.median(out))


#: Transport ``batch_size`` values of the Lorenz-96 rows (``--l96-batch``; None = default).
L96_BATCH = [None]
#: Particle-filter size of the Lorenz-96 rows (``--pf-l96``; 0 = none).
PF_L96 = 3000


def parse_extra(spec):
    """``"label:key=value,key=value"`` -> ``(label, kwargs)`` (numbers parsed, else strings)."""
    label, _, rest = spec.partition(":")
    kw = {}
    for item in [v for v in rest.split(",") if v]:
        key, _, value = item.partition("=")
        for conv in (int, float):
            try:
                value = conv(value)
                break
            except ValueError:
                pass
        kw[key.strip()] = value
    return label, kw


def sequential_rows(problems, sizes, seeds, cycles_l63, cycles_l96, l96_burn=200, extras=()):
    rows = []
    for name, kind in problems:
        ssm = models.get(name)
        K = cycles_l63 if kind == "l63" else cycles_l96
        burn = min(64 if kind == "l63" else l96_burn, K // 2)
        if name == "lorenz63_sparse":
            burn = min(32, K // 2)
        ref_cfg = None
        if kind == "l63":
            ref_cfg = (2000, 0.9, 0.3)
        data = [ssm.simulate(K, seed=np.random.SeedSequence([s, 17])) for s in seeds]
        refs = {}
        if ref_cfg is not None:
            for s, (_, y) in zip(seeds, data, strict=True):
                refs[s] = _pf_reference(ssm, y, 1000 + s, *ref_cfg)
        eval_times = np.arange(burn, K, 10)
        for N in sizes:
            methods = [("transport", TransportFilter(N, inflation=1.0 if N >= 50 else 1.04))]
            if kind == "l63":
                methods += [
                    (
                        "transport regression=kernel",
                        TransportFilter(N, inflation=1.0 if N >= 50 else 1.04, regression="kernel"),
                    ),
                    ("EnKF", EnKF(ensemble_size=N, inflation=1.01 if N >= 50 else 1.04)),
                    ("ETKF", ETKF(ensemble_size=N, inflation=1.01 if N >= 50 else 1.04)),
                ]
            else:
                methods = [
                    (
                        "transport loc 4"
                        + ("" if N >= 40 else " obs_weight 2 inflation 1.02")
                        + ("" if bs is None else f" batch {bs}"),
                        TransportFilter(
                            N,
                            inflation=1.0 if N >= 40 else 1.02,
                            obs_weight=1.0 if N >= 40 else 2.0,
                            localization_radius=4.0,
                            **({} if bs is None else {"batch_size": bs}),
                        ),
                    )
                    for bs in L96_BATCH
                ]
                methods += [
                    (
                        "LETKF loc 4",
                        LETKF(
                            ensemble_size=N,
                            inflation=1.04 if N < 50 else 1.02,
                            localization_radius=4.0,
                        ),
                    ),
                    ("EnKF", EnKF(ensemble_size=N, inflation=1.06 if N < 50 else 1.02)),
                ]
            for label, kw in extras:  # --extra transport variants (same seeds and data)
                base = dict(inflation=1.0 if N >= 50 else 1.04)
                if kind == "l96":
                    base = dict(
                        inflation=1.0 if N >= 40 else 1.02,
                        obs_weight=1.0 if N >= 40 else 2.0,
                        localization_radius=4.0,
                    )
                methods.append((f"transport {label}", TransportFilter(N, **{**base, **kw})))
            # warm the kernels outside the timings
            for _, m in methods:
                filter(ssm, data[0][1][:2], m, seed=0)
            for label, method in methods:
                rm, sp, ms, ed = [], [], [], []
                for s, (x, y) in zip(seeds, data, strict=True):
                    store = "ensemble" if refs else "moments"
                    t = filter(ssm, y, method, seed=s, truth=x, burn_in=burn, store=store)
                    rm.append(t.attrs["rmse_mean"])
                    sp.append(t.attrs["spread_mean"])
                    ms.append(1e3 * t.attrs["filtering_time"] / K)
                    if refs:
                        ed.append(_ens_energy(t, refs[s], eval_times, np.random.default_rng(s)))
                row = dict(
                    problem=name,
                    method=f"{label} N={N}",
                    N=N,
                    rmse=float(np.median(rm)),
                    rmse_min=float(np.min(rm)),
                    rmse_max=float(np.max(rm)),
                    spread=float(np.median(sp)),
                    ms_per_cycle=float(np.median(ms)),
                    energy_to_pf=float(np.median(ed)) if ed else None,
                    threads=int(t.attrs["threads"]),
                    seeds=[int(s) for s in seeds],
                    rmse_per_seed=[float(v) for v in rm],
                    energy_per_seed=[float(v) for v in ed],
                )
                rows.append(row)
                print(row, flush=True)
        if ref_cfg is not None:
            rm = []
            for s, (x, _) in zip(seeds, data, strict=True):
                ref = refs[s]
                mean = ref.filtered["mean"].values
                rm.append(np.mean(np.sqrt(((mean - x) ** 2).mean(1))[burn:]))
            rows.append(
                dict(
                    problem=name,
                    method=f"PF reference N={ref_cfg[0]} reg {ref_cfg[1]} NER {ref_cfg[2]}",
                    N=ref_cfg[0],
                    rmse=float(np.median(rm)),
                    rmse_min=float(np.min(rm)),
                    rmse_max=float(np.max(rm)),
                    spread=float(
                        np.median(
                            [r.sample_stats["spread"].values[burn:].mean() for r in refs.values()]
                        )
                    ),
                    ms_per_cycle=float(
                        np.median([1e3 * r.attrs["filtering_time"] / K for r in refs.values()])
                    ),
                    energy_to_pf=None,
                    threads=0,
                )
            )
            print(rows[-1], flush=True)
        elif kind == "l96":
            for n_pf in (PF_L96,) if PF_L96 > 0 else ():
                pf = ParticleFilter(ensemble_size=n_pf, regularization=0.7, resample_threshold=0.5)
                rm, sp, ms = [], [], []
                for s, (x, y) in zip(seeds[:2], data[:2], strict=True):
                    t = filter(ssm, y, pf, seed=s, truth=x, burn_in=burn)
                    rm.append(t.attrs["rmse_mean"])
                    sp.append(t.attrs["spread_mean"])
                    ms.append(1e3 * t.attrs["filtering_time"] / K)
                rows.append(
                    dict(
                        problem=name,
                        method=f"PF N={n_pf} reg 0.7 NER 0.5 (2 seeds)",
                        N=n_pf,
                        rmse=float(np.median(rm)),
                        rmse_min=float(np.min(rm)),
                        rmse_max=float(np.max(rm)),
                        spread=float(np.median(sp)),
                        ms_per_cycle=float(np.median(ms)),
                        energy_to_pf=None,
                        threads=int(t.attrs["threads"]),
                    )
                )
                print(rows[-1], flush=True)
    return rows


def write_report(bim, seq, args, load_before, load_after, elapsed):
    lines = [
        "# Transport filter benchmark (filters spec §7.3)",
        "",
        "Command (from the repository root):",
        "",
        "```sh",
        "PYTHONHASHSEED=0 .venv/bin/python benchmarks/filters/transport_bench.py "
        + " ".join(args.argv),
        "```",
        "",
        f"Seeds: {args.seed_list[0]}-{args.seed_list[-1]}; L63 cycles {args.l63_cycles}, "
        f"L96 cycles {args.l96_cycles}. "
        f"Load average before/after: {load_before} / {load_after} (2 cores shared with other "
        f"jobs: timings are noisy, ratios within a row group are what matter). "
        f"Wall time {elapsed / 60:.1f} min.",
        "",
        "The paper's experiments and numbers (arXiv 2605.13174) could not be retrieved (the "
        "stored copy gives only the abstract), so there is no side-by-side with its tables.",
        "",
    ]
    if bim:
        lines += [
            "## Static bimodal problem (y = x^2 + N(0, 0.1^2), y* = 1)",
            "",
            "Distances to the exact posterior (quadrature, 4000 quantile points); medians over "
            "seeds.",
            "",
            "| method | energy distance | MMD^2 (h=0.2) | within 0.2 of ±1 | fraction x>0 |",
            "|---|---|---|---|---|",
        ]
        for r in bim:
            lines.append(
                f"| {r['method']} | {r['energy']:.4f} | {r['mmd2']:.4f} | {r['near']:.2f} | "
                f"{r['pos']:.2f} |"
            )
        lines.append("")
    if seq:
        lines += [
            "## Sequential problems",
            "",
            f"RMSE/spread: time means after burn-in (L63: 64 cycles, sparse 32; L96: "
            f"{args.l96_burn} cycles), "
            "medians [min, max] over seeds.  `energy to PF`: median over analysis times (every "
            "10th after burn-in) of the energy distance between the analysis ensemble and the "
            "PF reference's weighted ensemble, median over seeds.",
            "",
            "| problem | method | rmse [min, max] | spread | energy to PF | ms/cycle |",
            "|---|---|---|---|---|---|",
        ]
        for r in seq:
            e = "" if r["energy_to_pf"] is None else f"{r['energy_to_pf']:.3f}"
            lines.append(
                f"| {r['problem']} | {r['method']} | {r['rmse']:.3f} [{r['rmse_min']:.3f}, "
                f"{r['rmse_max']:.3f}] | {r['spread']:.3f} | {e} | {r['ms_per_cycle']:.2f} |"
            )
        lines.append("")
    notes = HERE / "transport_notes.md"
    if notes.exists():
        lines += [notes.read_text()]
    (HERE / f"{args.out}.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--l63-cycles", type=int, default=1000)
    p.add_argument("--l96-cycles", type=int, default=600)
    p.add_argument("--sizes", default="20,40,100")
    p.add_argument("--only", default="bimodal,l63,l96")
    p.add_argument("--l96-burn", type=int, default=200, help="L96 burn-in cycles")
    p.add_argument("--out", default="TRANSPORT_RESULTS", help="report name (.md and .json)")
    p.add_argument("--pf-l96", type=int, default=3000, help="L96 particle filter size (0: none)")
    p.add_argument(
        "--l96-batch",
        default="",
        help="comma list of transport batch_size values for L96 (default: the filter's default)",
    )
    p.add_argument("--problems", default="", help="comma list overriding --only's problems")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first..first+seeds-1")
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="LABEL:KEY=VALUE,...",
        help="extra transport variant, e.g. opt:analysis=optimize (repeatable)",
    )
    args = p.parse_args(argv)
    args.argv = argv
    args.seed_list = list(range(args.first_seed, args.first_seed + args.seeds))
    sizes = [int(v) for v in args.sizes.split(",")]
    only = set(args.only.split(","))
    load_before = f"{os.getloadavg()[0]:.1f}"
    t0 = time.time()
    bim = bimodal_rows(args.seed_list) if "bimodal" in only else []
    problems = []
    if "l63" in only:
        problems += [(n, "l63") for n in ("lorenz63", "lorenz63_cubic", "lorenz63_sparse")]
    if "l96" in only:
        problems += [(n, "l96") for n in ("lorenz96", "lorenz96_abs")]
    if args.problems:
        problems = [
            (n, "l96" if n.startswith("lorenz96") else "l63") for n in args.problems.split(",")
        ]
    global PF_L96, L96_BATCH
    PF_L96 = args.pf_l96
    if args.l96_batch:
        L96_BATCH = [int(v) for v in args.l96_batch.split(",")]
    seq = sequential_rows(
        problems,
        sizes,
        args.seed_list,
        args.l63_cycles,
        args.l96_cycles,
        args.l96_burn,
        [parse_extra(e) for e in args.extra],
    )
    load_after = f"{os.getloadavg()[0]:.1f}"
    (HERE / f"{args.out}.json").write_text(json.dumps(dict(bimodal=bim, sequential=seq), indent=1))
    write_report(bim, seq, args, load_before, load_after, time.time() - t0)
    print((HERE / f"{args.out}.md").read_text())


if __name__ == "__main__":
    main()
