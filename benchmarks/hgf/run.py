"""HGF benchmarks: geobayes against pyhgf 0.3.2, throughput, a full fit, the stress plot.

Usage (from the repository root)::

    sh benchmarks/hgf/setup_pyhgf.sh            # once: pyhgf 0.3.2 + jax 0.6 venv
    .venv/bin/python -m benchmarks.hgf.run       # prints the tables, writes the JSON

Options: ``--quick`` (smaller sizes), ``--no-pyhgf``, ``--no-fit``.  pyhgf runs in its
own interpreter (``benchmarks/.venvs/pyhgf``, or ``$PYHGF_VENV_PYTHON``) within the
same invocation, on the same series, alternating with geobayes.  Two comparisons are
printed and kept apart, like with like: **user call vs user call** (``hgf.run``,
DataTree included, against pyhgf's ``Network.input_data``) and **kernel vs kernel**
(geobayes' compiled loop into preallocated arrays against pyhgf's ``jax.lax.scan`` of
its belief propagation).  Raw numbers go to ``benchmarks/results/hgf.json`` and the
comparison table to ``benchmarks/results/hgf.md``; ``benchmarks/hgf/RESULTS.md`` is
the hand-written account of one such run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REF = ROOT.parent / "shared" / "reference" / "hgf"


def series(n: int) -> np.ndarray:
    """USD-CHF (614 rates) mirrored back and forth to ``n`` points: no seams, no jumps."""
    u = np.loadtxt(REF / "data_usdchf.csv", delimiter=",", skiprows=1)
    reps = int(np.ceil(n / (2 * u.size)))
    return np.ascontiguousarray(np.tile(np.r_[u, u[::-1]], reps)[:n])


def best_of(fn, repeats, *args, **kwargs):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best


def time_geobayes(u, repeats):
    from geobayes.filters import hgf
    from geobayes.filters.hgf import _kernels as K
    from geobayes.filters.hgf.run import run_arrays

    rows = []
    obs = np.ascontiguousarray(u[:, None])
    for levels in (2, 3):
        for update in ("classic", "robust", "ehgf"):
            net = hgf.continuous_hgf(levels)
            inet, npar, epar = net.compile(update)
            g = net.global_params()
            n = npar.shape[0]
            run_arrays(inet, npar, epar, g, obs)  # warm
            full = best_of(hgf.run, max(2, repeats // 2), net, u, update=update)
            alloc = best_of(run_arrays, repeats, inet, npar, epar, g, obs)
            outs = [np.empty((u.size, n)) for _ in range(4)]
            s = np.empty(u.size)
            st = np.zeros(4)
            e2, e1 = np.empty((0, n)), np.empty(0)
            pre = best_of(K.filter_core, repeats, inet, npar, epar, g, obs, e1, 1, *outs, s, st)
            nost = best_of(
                K.filter_core, repeats, inet, npar, epar, g, obs, e1, 0, e2, e2, e2, e2, e1, st
            )
            # the general graph kernel on the same network (no fast path)
            ig, _, _ = net.compile(update, fast_path=False)
            gen = best_of(K.filter_core, repeats, ig, npar, epar, g, obs, e1, 1, *outs, s, st)
            rows.append(
                {
                    "levels": levels,
                    "update": update,
                    "n": int(u.size),
                    "run_datatree_ns": 1e9 * full / u.size,
                    "kernel_alloc_ns": 1e9 * alloc / u.size,
                    "kernel_prealloc_ns": 1e9 * pre / u.size,
                    "kernel_nostore_ns": 1e9 * nost / u.size,
                    "general_kernel_prealloc_ns": 1e9 * gen / u.size,
                }
            )
            print(
                f"geobayes {levels}-level {update:8s} "
                + ", ".join(f"{k} {v:.1f}" for k, v in rows[-1].items() if k.endswith("_ns")),
                flush=True,
            )
    return rows


def first_call_fresh_process():
    """Import + first 3-level run in a new process (warm Numba cache), best of 3."""
    code = textwrap.dedent("""
        import time
        t0 = time.perf_counter()
        import numpy as np
        from geobayes.filters import hgf
        t1 = time.perf_counter()
        hgf.run(hgf.continuous_hgf(3, tonic_volatility=-4.0), np.zeros(1000))
        t2 = time.perf_counter()
        print(t1 - t0, t2 - t1)
    """)
    best = None
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split()
        vals = (float(out[0]), float(out[1]))
        best = vals if best is None or sum(vals) < sum(best) else best
    return {"import_s": best[0], "first_run_s": best[1]}


def time_pyhgf(u, repeats):
    py = os.environ.get("PYHGF_VENV_PYTHON") or str(ROOT / "benchmarks/.venvs/pyhgf/bin/python")
    if not Path(py).exists():
        print(f"pyhgf venv not found ({py}); run benchmarks/hgf/setup_pyhgf.sh", flush=True)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "u.npy", u)
        job = {
            "series": str(Path(tmp) / "u.npy"),
            "repeats": repeats,
            "cases": [[lv, up] for lv in (2, 3) for up in ("classic", "robust", "ehgf")],
        }
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        res = subprocess.run(
            [py, str(HERE / "_pyhgf_worker.py"), str(Path(tmp) / "job.json")],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if res.returncode != 0:
        print("pyhgf worker failed:", res.stderr[-2000:], flush=True)
        return None
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for r in out["results"]:
        print(
            f"pyhgf {r['levels']}-level {r['update']:8s} steady "
            f"{1e9 * r['steady_s'] / r['n']:.1f} ns/obs, first call {r['first_call_s']:.2f} s",
            flush=True,
        )
    return out


def throughput(n_sets, threads_list):
    """Observations x parameter sets per second, batch log-likelihood on USD-CHF."""
    code = textwrap.dedent("""
        import sys, time, json, numpy as np
        from geobayes.filters import hgf
        from geobayes.filters.hgf import _kernels as K
        levels, update, n_sets = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        u = np.loadtxt(sys.argv[4], delimiter=",", skiprows=1)
        obs = np.ascontiguousarray(u[:, None])
        net = hgf.continuous_hgf(levels)
        inet, npar, epar = net.compile(update)
        rng = np.random.default_rng(0)
        nb = np.ascontiguousarray(np.repeat(npar[None], n_sets, axis=0))
        nb[:, 1:, K.OMEGA] = rng.uniform(-6, -2, (n_sets, levels))
        eb = np.ascontiguousarray(np.repeat(epar[None], n_sets, axis=0))
        eb[:, 1:] = rng.uniform(0.5, 1.5, (n_sets, levels - 1))
        g = net.global_params()
        K.batch_loglik(inet, nb[:4], eb[:4], g, obs, np.empty(0))
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter()
            ll = K.batch_loglik(inet, nb, eb, g, obs, np.empty(0))
            best = min(best, time.perf_counter() - t0)
        print(json.dumps({"rate": n_sets * u.size / best, "finite": float(np.isfinite(ll).mean())}))
    """)
    rows = []
    for levels in (2, 3):
        for update in ("classic", "robust"):
            for th in threads_list:
                env = dict(os.environ, NUMBA_NUM_THREADS=str(th))
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        code,
                        str(levels),
                        update,
                        str(n_sets),
                        str(REF / "data_usdchf.csv"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                    cwd=ROOT,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                rows.append(
                    {
                        "levels": levels,
                        "update": update,
                        "threads": th,
                        "obs_x_sets_per_s": r["rate"],
                        "finite_fraction": r["finite"],
                    }
                )
                print(
                    f"throughput {levels}-level {update} threads={th}: "
                    f"{r['rate']:.3g} obs x sets / s",
                    flush=True,
                )
    return rows


def full_fit(chains, draws, warmup):
    import geobayes
    from geobayes.filters import hgf
    from geobayes.filters.hgf.fit import hgf_model

    u = np.loadtxt(REF / "data_usdchf.csv", delimiter=",", skiprows=1)
    rows = []
    for levels, names in ((2, ["omega_x1", "omega_x2"]), (3, ["omega_x1", "omega_x2", "omega_x3"])):
        model = hgf_model(hgf.continuous_hgf(levels), u, names, update="robust")
        geobayes.sample(model, "hmc", draws=5, warmup=5, chains=1, seed=0, progress=False)
        t0 = time.perf_counter()
        tr = geobayes.sample(
            model, "hmc", draws=draws, warmup=warmup, chains=chains, seed=1, progress=False
        )
        dt = time.perf_counter() - t0
        import arviz as az

        summ = az.summary(tr)
        ngrad = int(tr["sample_stats"]["n_steps"].sum())
        rows.append(
            {
                "levels": levels,
                "params": names,
                "chains": chains,
                "draws": draws,
                "warmup": warmup,
                "seconds": dt,
                "grad_evals_kept": ngrad,
                "summary": summ.to_dict() if hasattr(summ, "to_dict") else str(summ),
            }
        )
        print(f"fit {levels}-level ({', '.join(names)}): {dt:.1f} s\n{summ}", flush=True)
    return rows


def stress_plot(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geobayes.filters import hgf

    u = np.r_[np.zeros(200), np.full(100, 0.525)]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for update, color in (("classic", "tab:red"), ("ehgf", "tab:orange"), ("robust", "tab:blue")):
        tree = hgf.run(hgf.continuous_hgf(3), u, update=update, on_failure="nan")
        t = np.arange(u.size)
        lab = update + (
            f" (fails at step {tree.attrs['failed_step']})" if tree.attrs["failed"] else ""
        )
        for ax, node in zip(axes, ("x1", "x2", "x3"), strict=True):
            m = tree["filtered"]["mean"].sel(node=node).values
            with np.errstate(divide="ignore", invalid="ignore"):
                sd = 1 / np.sqrt(tree["filtered"]["precision"].sel(node=node).values)
            ax.plot(t, m, color=color, lw=1.2, label=lab)
            ax.fill_between(t, m - 2 * sd, m + 2 * sd, color=color, alpha=0.15, lw=0)
            ax.set_ylabel(node)
    axes[0].plot(np.arange(u.size), u, "k.", ms=2, label="u")
    axes[0].set_ylim(-0.1, 0.7)
    axes[1].set_ylim(-15, 15)
    axes[2].set_ylim(-6, 10)
    axes[0].legend(fontsize=7, loc="upper left")
    axes[0].set_title("Stress series: jump of ~50 predictive sds at step 200 (3-level HGF)")
    axes[-1].set_xlim(150, 300)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-pyhgf", action="store_true")
    ap.add_argument("--no-fit", action="store_true")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else 100_000
    repeats = 3 if args.quick else 7
    u = series(n)
    info = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
    }
    res = {"info": info, "geobayes": time_geobayes(u, repeats)}
    res["fresh_process"] = first_call_fresh_process()
    print("fresh process:", res["fresh_process"], flush=True)
    if not args.no_pyhgf:
        # geobayes, pyhgf, geobayes, pyhgf: the machine's load drifts, so each side
        # keeps the best of its two passes (best of 2 x 7 runs on both sides)
        res["pyhgf"] = time_pyhgf(u, repeats)
        for row, again in zip(res["geobayes"], time_geobayes(u, repeats), strict=True):
            for key, val in again.items():
                if key.endswith("_ns"):
                    row[key] = min(row[key], val)
        again = time_pyhgf(u, repeats)
        if res["pyhgf"] and again:
            for r, r2 in zip(res["pyhgf"]["results"], again["results"], strict=True):
                r["steady_s"] = min(r["steady_s"], r2["steady_s"])
                if r.get("kernel_s") and r2.get("kernel_s"):
                    r["kernel_s"] = min(r["kernel_s"], r2["kernel_s"])
    res["throughput"] = throughput(500 if args.quick else 4000, (1, 2))
    if not args.no_fit:
        res["fit"] = full_fit(4, 1000, 1000) if not args.quick else full_fit(2, 200, 200)
    stress_plot(HERE / "stress.png")
    info["loadavg_end"] = os.getloadavg()
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hgf.json").write_text(json.dumps(res, indent=1, default=str))
    table = comparison_table(res)
    print(table)
    (out / "hgf.md").write_text(table + "\n")
    print(f"raw results: {out / 'hgf.json'}; table: {out / 'hgf.md'}")


def comparison_table(res) -> str:
    """User call vs user call and kernel vs kernel, same run, as separate ratio columns."""
    py = {(r["levels"], r["update"]): r for r in (res.get("pyhgf") or {}).get("results", [])}
    lines = [
        "| network | update | geobayes hgf.run ns/obs | pyhgf input_data ns/obs | user-call "
        "ratio | geobayes kernel ns/obs | pyhgf scan ns/obs | kernel ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for g in res["geobayes"]:
        p = py.get((g["levels"], g["update"]))
        n = g["n"]
        user = 1e9 * p["steady_s"] / n if p else None
        kern = 1e9 * p["kernel_s"] / n if p and p.get("kernel_s") else None

        def f(x, fmt="{:.1f}"):
            return "-" if x is None else fmt.format(x)

        lines.append(
            f"| {g['levels']}-level | {g['update']} | {g['run_datatree_ns']:.1f} | {f(user)} | "
            f"{f(user / g['run_datatree_ns'] if user else None, '{:.2f}x')} | "
            f"{g['kernel_prealloc_ns']:.1f} | {f(kern)} | "
            f"{f(kern / g['kernel_prealloc_ns'] if kern else None, '{:.2f}x')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
