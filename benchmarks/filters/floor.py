"""Where a Lorenz-96 LETKF cycle goes, and the floor under it.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.filters.floor            # d = 40, N = 40
    .venv/bin/python -m benchmarks.filters.floor --dim 400 --threads 1

On the ``sakov2008`` setting (N = 40, inflation 1.04, rotation, radius 4, the
LETKF's defaults: automatic batches, taper cut 1e-3, automatic factorization),
times with one thread, best of several repetitions, on the same forecast
ensemble:

* the full cycle as the user gets it: ``filter()`` wall time per cycle;
* its parts, each called as the kernel calls it: the forecast (RK4 of every
  member), the observation operator, the local analyses
  (``letkf_analysis_space``: centring, whitening, local selection,
  factorizations, transforms, writing the columns), the rotation and
  inflation (``post_process_random_rotation``), the moments;
* the stripped floor: only the per-domain factorizations and transforms, on
  local matrices built beforehand (Gram matrix, ``eigh``, the mean weights
  and the transform of the block's columns); nothing else;
* the eigendecompositions alone (LAPACK ``syevd`` through ``np.linalg.eigh``),
  the part of the floor no rearrangement removes.

The full cycle cannot be faster than the floor; the ratio says how much of it
is not the unavoidable arithmetic.  Prints a Markdown table (``--md`` appends
it to a file).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from numba import njit

from geobayes.filters import LETKF, configs
from geobayes.filters import filter as run_filter
from geobayes.filters._blas import single_threaded_blas
from geobayes.filters._localization import local_obs_sets
from geobayes.filters.api import _numba_threads, letkf_batch_size
from geobayes.filters.enkf import (
    SPACE_AUTO,
    _etkf_core,
    ensemble_moments,
    forecast_members,
    letkf_analysis_space,
    observe_members,
    post_process_random_rotation,
)


@njit(cache=True)
def _floor(Sls, Slts, sls, colss, N1, reps):  # pragma: no cover
    """Only the per-domain factorizations and transforms, ``reps`` times."""
    acc = 0.0
    for _ in range(reps):
        for b in range(len(Sls)):
            dmu, Aa = _etkf_core(Sls[b], Slts[b], sls[b], N1, colss[b], SPACE_AUTO)
            acc += dmu[0] + Aa[0, 0]
    return acc


@njit(cache=True)
def _eigh_only(Ms, reps):  # pragma: no cover
    acc = 0.0
    for _ in range(reps):
        for b in range(len(Ms)):
            lam, _ = np.linalg.eigh(Ms[b])
            acc += lam[0]
    return acc


def best(fn, reps, n=7):
    """Best (wall, cpu) seconds per call of ``fn`` over ``n`` tries of ``reps`` calls."""
    walls, cpus = [], []
    for _ in range(n):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w) / reps)
        cpus.append((time.process_time() - c) / reps)
    return min(walls), min(cpus)


def measure(dim=40, N=40, threads=1, n_cycles=300, **letkf_kw):
    cfg = configs.sakov2008(dim=dim)
    ssm = cfg.ssm
    method = LETKF(
        ensemble_size=N, inflation=1.04, localization_radius=4.0, rotate=True, **letkf_kw
    )
    x, y = ssm.simulate(n_cycles + 1, seed=3)
    run_filter(ssm, y[:5], method, seed=1, threads=threads)  # warm
    rows = {}
    t = run_filter(ssm, y[:n_cycles], method, seed=1, threads=threads, store="ensemble")
    E0 = np.ascontiguousarray(t.posterior["ensemble"].values[0, :, -1, :])
    yk = y[n_cycles]
    bs = letkf_batch_size(method, ssm)
    block_ptr, indptr, indices, sqrtc = local_obs_sets(
        ssm.state_coords,
        ssm.obs_coords,
        ssm.domain_length,
        method.localization_radius,
        method.taper,
        bs,
        method.taper_cut,
    )
    Rm12 = np.diag(1.0 / np.sqrt(np.diag(ssm.obs_noise_cov)))
    rng = np.random.default_rng(0)
    with _numba_threads(threads), single_threaded_blas():
        E = E0.copy()
        reps = 50

        def fc():
            for _ in range(reps):
                E[:] = E0
                forecast_members(E, 0, ssm.t0, ssm.dt, ssm.steps_per_obs, ssm.step, ssm.step_data)

        fc()
        rows["forecast (RK4, all members, incl. copy)"] = best(fc, reps)
        E[:] = E0
        forecast_members(E, 0, ssm.t0, ssm.dt, ssm.steps_per_obs, ssm.step, ssm.step_data)
        Ef = E.copy()

        def ob():
            for _ in range(reps):
                observe_members(Ef, ssm.observe, ssm.observe_data, ssm.obs_dim)

        ob()
        rows["observation operator"] = best(ob, reps)
        Eo = observe_members(Ef, ssm.observe, ssm.observe_data, ssm.obs_dim)

        def an():
            for _ in range(reps):
                letkf_analysis_space(
                    Ef, Eo, yk, Rm12, block_ptr, indptr, indices, sqrtc, SPACE_AUTO
                )

        an()
        rows["local analyses (whole kernel)"] = best(an, reps)
        Ea = letkf_analysis_space(Ef, Eo, yk, Rm12, block_ptr, indptr, indices, sqrtc, SPACE_AUTO)

        def pp():
            for _ in range(reps):
                post_process_random_rotation(Ea, 1.04, rng)

        pp()
        rows["rotation + inflation"] = best(pp, reps)
        mo, sd = np.empty(dim), np.empty(dim)

        def mom():
            for _ in range(reps):
                ensemble_moments(Ea, mo, sd)

        mom()
        rows["moments (mean, sd)"] = best(mom, reps)
        # stripped floor: local matrices built beforehand
        mu = Ef.mean(0)
        A = Ef - mu
        Y = Eo - Eo.mean(0)
        St = np.ascontiguousarray((Y @ Rm12.T).T)
        s = Rm12 @ (yk - Eo.mean(0))
        from numba.typed import List

        Sls, Slts, sls, colss, Ms = List(), List(), List(), List(), List()
        for b in range(block_ptr.size - 1):
            idx = indices[indptr[b] : indptr[b + 1]]
            c = sqrtc[indptr[b] : indptr[b + 1]]
            Slt = np.ascontiguousarray(St[idx] * c[:, None])
            Slts.append(Slt)
            Sls.append(np.ascontiguousarray(Slt.T))
            sls.append(np.ascontiguousarray(s[idx] * c))
            colss.append(np.ascontiguousarray(A[:, block_ptr[b] : block_ptr[b + 1]]))
            Ms.append(np.ascontiguousarray(Slt @ Slt.T))
        r2 = 20
        _floor(Sls, Slts, sls, colss, N - 1.0, 1)
        # the full cycle and the floor alternately (the machine's load varies)
        fw, fc, lw, lc = [], [], [], []
        for _ in range(5):
            c0 = time.process_time()
            tr = run_filter(ssm, y[:n_cycles], method, seed=1, threads=threads)
            fc.append((time.process_time() - c0) / n_cycles)
            fw.append(tr.attrs["filtering_time"] / n_cycles)
            w, c = best(lambda: _floor(Sls, Slts, sls, colss, N - 1.0, r2), r2, n=2)
            lw.append(w)
            lc.append(c)
        rows["full cycle: filter() per cycle (CPU: whole call)"] = (min(fw), min(fc))
        rows["stripped floor: factorizations + transforms"] = (min(lw), min(lc))
        _eigh_only(Ms, 1)
        rows["  of which eigendecompositions alone"] = best(lambda: _eigh_only(Ms, r2), r2)
    meta = dict(
        dim=dim,
        N=N,
        threads=threads,
        batch=bs,
        n_local=int(np.median(np.diff(indptr))),
        blocks=int(block_ptr.size - 1),
        load=" ".join(f"{v:.2f}" for v in os.getloadavg()),
    )
    return rows, meta


def table(rows, meta):
    full = rows["full cycle: filter() per cycle (CPU: whole call)"]
    floor = rows["stripped floor: factorizations + transforms"]
    out = [
        f"L96 d={meta['dim']} LETKF N={meta['N']} at defaults (batch {meta['batch']}, "
        f"{meta['blocks']} local analyses of {meta['n_local']} observations), "
        f"{meta['threads']} thread(s), load {meta['load']}",
        "",
        "| part | wall µs/cycle | CPU µs/cycle |",
        "|---|---|---|",
    ]
    for k, (w, c) in rows.items():
        cs = "" if c != c else f"{1e6 * c:.0f}"
        out.append(f"| {k} | {1e6 * w:.0f} | {cs} |")
    out += [
        "",
        f"full cycle / stripped floor = {full[0] / floor[0]:.2f} (wall), "
        f"{full[1] / floor[1]:.2f} (CPU time; the full call includes building the trace)",
    ]
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=40)
    p.add_argument("--N", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cycles", type=int, default=300)
    p.add_argument("--md", help="append the table to this file")
    a = p.parse_args(argv)
    rows, meta = measure(a.dim, a.N, a.threads, a.cycles)
    md = table(rows, meta)
    print(md)
    if a.md:
        with open(a.md, "a") as fh:
            fh.write(md + "\n")
    return rows, meta


if __name__ == "__main__":
    main()
