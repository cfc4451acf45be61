"""The particle-family runner behind ``geobayes.sample`` (MSIP, SHK).

Each replicate (``chain`` in the trace) owns a generator spawned from the seed, its
particles ``x`` (N, d), weights ``w`` and the method's persistent state ``aux``; it is
advanced in chunks of the jitted :func:`geobayes.samplers._population.run_population`
(one compiled kernel for every method and model; the GIL is released, so replicates run
in threads) by the loop shared with the chain family (:mod:`geobayes._loop`).  The final
population becomes the trace: ``chain`` = replicate, ``draw`` = particle, weights and
per-iteration statistics in ``sample_stats`` (:func:`geobayes.trace.build_particle_trace`).
"""

from __future__ import annotations

import os

import numpy as np
from threadpoolctl import threadpool_limits

from geobayes._loop import run_units
from geobayes._memory import FLOAT, format_bytes, require
from geobayes._resume import STATE_GROUP, particle_state_dataset, rng_from_json
from geobayes.errors import InitializationError, UnstableQuadratureWarning
from geobayes.samplers._population import run_population
from geobayes.trace import build_particle_trace

__all__ = ["sample_particles"]


def _check_memory(method, model, chains, n_threads):
    n, d = method.n_particles, model.dim
    per = method.memory_bytes(n, d)
    history = FLOAT * method.n_steps * n * (d + 1) if method.particle_history else 0
    stats = FLOAT * method.n_steps * len(method.all_stat_names)
    need = per * min(chains, n_threads) + chains * (history + stats + FLOAT * n * (d + 1))
    require(
        need,
        f"{method.name} with n_particles={n}, dim {d} and {chains} replicate(s) "
        f"({format_bytes(per)} working memory per running replicate"
        + (f", {format_bytes(history)} of particle_history per replicate" if history else "")
        + ")",
        "use fewer particles"
        + (", fewer replicates or particle_history=False" if history else " or replicates"),
    )


def _initial_particles(model, method, rng, given):
    n, d = method.n_particles, model.dim
    if given is not None:
        x = np.array(given, dtype=np.float64, order="C")
    elif method.init_scale is not None:
        x = rng.uniform(-method.init_scale, method.init_scale, size=(n, d))
    else:
        x = np.empty((n, d))
        for i in range(n):
            x[i] = model.initial_point(rng)
    lps = np.array([model.lpg(np.ascontiguousarray(xi), model.fdata, model.idata)[0] for xi in x])
    if not np.any(np.isfinite(lps)):
        raise InitializationError(
            f"{method.name}: the log density of model {model.name!r} is not finite at any of "
            f"the {n} initial particles; start them inside the support (initial_points=, "
            "on the unconstrained scale) or check the model"
        )
    return np.ascontiguousarray(x)


def _given_points(initial_points, chains, method, model):
    if initial_points is None:
        return [None] * chains
    arr = np.asarray(initial_points)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"initial_points must be a real array, got dtype {arr.dtype}")
    n, d = method.n_particles, model.dim
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape == (n, d):
        arr = np.broadcast_to(arr, (chains, n, d))
    if arr.shape != (chains, n, d):
        raise ValueError(
            f"initial_points of a particle method must have shape (n_particles, dim) = "
            f"({n}, {d}) or (chains, n_particles, dim) = ({chains}, {n}, {d}), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("initial_points must be finite")
    return list(arr)


def _check_state_layout(method, model, n, d, auxs, params, n_stats) -> None:
    """Refuse a ``sampler_state`` whose arrays do not have this version's layout.

    The step kernels index ``aux`` and ``params`` by position without bounds checks, so a
    state written by another version of the method (whose layout differed) must not reach
    them.
    """
    want_aux = len(method.initial_aux(n, d))
    want_params = len(method.params_array(model, np.random.default_rng(0)))
    want_stats = len(method.all_stat_names)
    got = (
        {len(a) for a in auxs},
        {len(p) for p in params},
        n_stats,
    )
    if got != ({want_aux}, {want_params}, want_stats):
        raise ValueError(
            f"resume: this trace's sampler_state does not have the layout of this version of "
            f"{method.name} (state, parameter and statistics lengths "
            f"{sorted(got[0])}, {sorted(got[1])}, {got[2]}; expected {want_aux}, "
            f"{want_params}, {want_stats}): it was written by another geobayes version; "
            "resume it with that version, or start a new run"
        )


def sample_particles(
    model,
    method,
    *,
    chains: int,
    rngs,
    seed_value,
    initial_points,
    cores: int | None,
    progress: bool,
    log_likelihood: bool,
    resume_state=None,
    resume_history=None,
    previous_time: float = 0.0,
):
    """Run ``chains`` independent replicates of a particle method; returns the trace.

    ``resume_state`` (the ``sampler_state`` group of an earlier trace of the same method,
    see :func:`geobayes._resume.particle_state_dataset`) continues its replicates from
    the iteration they reached, and ``resume_history`` (its ``particle_history`` group,
    when the method keeps one) refills the history of the iterations done; the result is
    then the whole run's trace, bit-identical to an uninterrupted one.
    """
    n, d, n_steps = method.n_particles, model.dim, method.n_steps
    n_threads = min(chains, cores or os.cpu_count() or 1)
    _check_memory(method, model, chains, n_threads)
    names = method.all_stat_names
    stats = np.zeros((chains, n_steps, len(names)))
    n_hist = n_steps if method.particle_history else 0
    hist = np.zeros((chains, n_hist, n, d))
    whist = np.zeros((chains, n_hist, n))
    if resume_state is None:
        first = 0
        starts = _given_points(initial_points, chains, method, model)
        xs, ws, auxs, params = [], [], [], []
        for c in range(chains):
            xs.append(_initial_particles(model, method, rngs[c], starts[c]))
            ws.append(np.full(n, 1.0 / n))
            auxs.append(np.ascontiguousarray(method.initial_aux(n, d), dtype=np.float64))
            params.append(
                np.ascontiguousarray(method.params_array(model, rngs[c]), dtype=np.float64)
            )
    else:
        first = int(resume_state["iteration"].values[0])

        def arrays(name):
            return [np.ascontiguousarray(a, dtype=np.float64) for a in resume_state[name].values]

        xs, ws, auxs, params = arrays("position"), arrays("weight"), arrays("aux"), arrays("params")
        _check_state_layout(method, model, n, d, auxs, params, resume_state["stats"].shape[-1])
        rngs = [rng_from_json(str(r)) for r in resume_state["rng_state"].values]
        stats[:, :first] = resume_state["stats"].values
        if n_hist:
            hist[:, :first] = resume_history["theta"].values
            whist[:, :first] = resume_history["weight"].values
    done = [first] * chains
    step = method.step_fn

    def advance(c, k):
        i0 = done[c]
        sl = slice(i0, i0 + k) if n_hist else slice(0, 0)
        status = run_population(
            rngs[c],
            step,
            model.lpg,
            model.fdata,
            model.idata,
            xs[c],
            ws[c],
            auxs[c],
            params[c],
            stats[c, i0 : i0 + k],
            hist[c, sl],
            whist[c, sl],
        )
        if status != 0:
            raise ValueError(method.error_message(int(status), model))
        done[c] = i0 + k

    # One BLAS thread while the kernels run: the steps call LAPACK (Cholesky) on small
    # matrices from several replicate threads, where OpenBLAS's own threads only
    # oversubscribe the cores (measured: a 200x200 Cholesky took 1 s instead of 0.3 ms
    # on a loaded 2-core machine).  The previous limits are restored afterwards.
    with threadpool_limits(limits=1, user_api="blas"):
        n_new, interrupted, seconds = run_units(
            chains,
            n_steps - first,
            advance,
            cores=cores,
            progress=progress,
            desc=lambda _: method.name,
            first_chunk=1,
        )
    n_done = first + n_new
    col = {name: k for k, name in enumerate(names)}
    it_stats = {name: stats[:, :n_done, col[name]] for name in method.stat_names}
    n_div = int(stats[:, :n_done, col["diverging"]].sum())
    tree = build_particle_trace(
        model,
        method,
        np.stack(xs),
        np.stack(ws),
        it_stats,
        history=hist[:, :n_done] if n_hist else None,
        weight_history=whist[:, :n_done] if n_hist else None,
        seed=seed_value,
        sampling_time=previous_time + seconds,
        partial=interrupted,
        log_likelihood=log_likelihood,
        extra_attrs={
            "n_particles": n,
            "n_steps": n_done,
            "chains": chains,
            "n_evals": int(stats[:, :n_done, col["n_evals"]].sum()),
            "divergences": n_div,
        },
    )
    tree[STATE_GROUP] = particle_state_dataset(
        rngs, xs, ws, auxs, params, stats, names, done, n_steps_requested=n_steps
    )
    message = method.result_warning(np.stack(xs), np.stack(ws), model)
    if message is not None:
        import warnings

        warnings.warn(UnstableQuadratureWarning(message), stacklevel=3)
    return tree
