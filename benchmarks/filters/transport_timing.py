"""Time per cycle of the transport filter against LETKF / EnKF at the same N (issue 14).

The compared filters run alternately in one invocation (kernels warm, same
observations, same thread count), ``--reps`` rounds; the table gives the
median milliseconds per cycle of each and the ratio of the medians, plus the
time-mean RMSE after burn-in and the mean number of flow steps.

Run from the repository root (one timing job at a time on a shared machine)::

    .venv/bin/python benchmarks/filters/transport_timing.py --reps 5
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from geobayes.filters import LETKF, EnKF, TransportFilter, filter, models


def _cases(n96, n63, cycles96, cycles63, variants):
    l96, l63 = models.get("lorenz96"), models.get("lorenz63")
    x96, y96 = l96.simulate(cycles96, seed=np.random.SeedSequence([96, 1]))
    x63, y63 = l63.simulate(cycles63, seed=np.random.SeedSequence([63, 1]))
    infl = 1.04 if n96 < 50 else 1.02
    loc = dict(localization_radius=4.0, inflation=infl)
    l96_rows = [("LETKF", LETKF(ensemble_size=n96, **loc))]
    for label, kw in variants:
        l96_rows.append((f"transport{label}", TransportFilter(n96, **loc, **kw)))
    l63_rows = [("EnKF", EnKF(ensemble_size=n63, inflation=1.01 if n63 >= 50 else 1.04))]
    for label, kw in variants:
        l63_rows.append(
            (f"transport{label}", TransportFilter(n63, inflation=1.0 if n63 >= 50 else 1.04, **kw))
        )
    return [
        (f"lorenz96 (d=40) N={n96}", l96, x96, y96, l96_rows),
        (f"lorenz63 N={n63}", l63, x63, y63, l63_rows),
    ]


def _parse_variant(text):
    """``key=value[;key=value...]`` (e.g. ``batch_size=2;obs_weight=2``) as a labelled variant."""
    kw = {}
    for part in text.split(";"):
        key, _, val = part.partition("=")
        if not val:
            raise SystemExit(f"unknown variant {text!r} (a name or key=value[;key=value])")
        try:
            kw[key] = int(val)
        except ValueError:
            try:
                kw[key] = float(val)
            except ValueError:
                kw[key] = val
    return (" " + " ".join(f"{k}={v}" for k, v in kw.items()), kw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--n96", type=int, default=40)
    ap.add_argument("--n63", type=int, default=100)
    ap.add_argument("--cycles96", type=int, default=150)
    ap.add_argument("--cycles63", type=int, default=200)
    ap.add_argument("--problems", default="l96,l63", help="comma list: l96, l63")
    ap.add_argument(
        "--variants",
        default="defaults",
        help="comma list of transport variants: defaults, imq, eta1, eta2, eta4, eta4imq, gauss2, "
        "lamy2, krr, or key=value[;key=value] (e.g. batch_size=2)",
    )
    a = ap.parse_args(argv)
    known = {
        "defaults": ("", {}),
        "imq": (" imq", {"kernel": "imq"}),
        "eta1": (" step_size=1", {"step_size": 1.0}),
        "eta2": (" step_size=2", {"step_size": 2.0}),
        "eta4": (" step_size=4", {"step_size": 4.0}),
        "eta4imq": (" step_size=4 imq", {"step_size": 4.0, "kernel": "imq"}),
        "gauss2": (" gaussian step_size=2 (old default)", {"kernel": "gaussian", "step_size": 2.0}),
        "lamy2": (" obs_weight=2", {"obs_weight": 2.0}),
        "krr": (" regression=kernel", {"regression": "kernel"}),
    }
    variants = [known[v] if v in known else _parse_variant(v) for v in a.variants.split(",")]
    print("uptime before:", os.popen("uptime").read().strip())
    cases = _cases(a.n96, a.n63, a.cycles96, a.cycles63, variants)
    keep = [p.strip() for p in a.problems.split(",")]
    cases = [c for c, key in zip(cases, ("l96", "l63"), strict=True) if key in keep]
    for title, ssm, x, y, rows in cases:
        for _, m in rows:  # compile / warm
            filter(ssm, y[:3], m, seed=0)
        ms = {lab: [] for lab, _ in rows}
        rmse = {lab: [] for lab, _ in rows}
        steps = {lab: [] for lab, _ in rows}
        for rep in range(a.reps):
            order = rows if rep % 2 == 0 else rows[::-1]  # alternate the sides
            for lab, m in order:
                t = filter(ssm, y, m, seed=rep, truth=x, burn_in=min(50, y.shape[0] // 3))
                ms[lab].append(1e3 * t.attrs["filtering_time"] / y.shape[0])
                rmse[lab].append(t.attrs["rmse_mean"])
                if "n_flow_steps" in t.sample_stats:
                    steps[lab].append(float(t.sample_stats["n_flow_steps"].mean()))
        base = np.median(ms[rows[0][0]])
        print(f"\n{title}, {a.reps} alternating rounds, threads {t.attrs['threads']}")
        print("| method | ms/cycle (median) | ratio | RMSE (median) | flow steps |")
        print("|---|---|---|---|---|")
        for lab, _ in rows:
            st = f"{np.mean(steps[lab]):.1f}" if steps[lab] else ""
            print(
                f"| {lab} | {np.median(ms[lab]):.2f} | {np.median(ms[lab]) / base:.2f} | "
                f"{np.median(rmse[lab]):.3f} | {st} |"
            )
    print("\nuptime after:", os.popen("uptime").read().strip())
    print("time:", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))


if __name__ == "__main__":
    main()
