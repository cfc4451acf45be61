"""The chain-family runner behind ``geobayes.sample`` (NUTS, HMC, MALA, DIMS).

Each chain owns a generator spawned from the seed and its state (position, gradient, log
density, step size, dual-averaging and Welford accumulators, metric); it is advanced in
chunks of the jitted :func:`geobayes.samplers._chunk.run_chunk` (one compiled kernel for
every method and model; the GIL is released, so chains run in threads) by the loop
shared with the particle family (:mod:`geobayes._loop`).  Chunk boundaries never change
what a chain draws, so the same seed gives bit-identical traces whatever the number of
threads.

Before any work the run is checked (:func:`geobayes._preflight.check_run`: the model's
trace view at the initial point, and the memory the whole run needs).  After it, every
trace carries each chain's final state (:mod:`geobayes._resume`), so that an interrupted
run, in warmup or in sampling, can be continued bit for bit with ``resume=trace``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from geobayes._loop import run_units
from geobayes._preflight import check_run
from geobayes._resume import STATE_GROUP, rng_from_json, state_dataset
from geobayes.adaptation.step_size import DA_SIZE, da_init
from geobayes.errors import InitializationError
from geobayes.samplers._chunk import run_chunk
from geobayes.samplers._integrators import NONFINITE
from geobayes.samplers.mala import langevin_proposal
from geobayes.trace import build_trace

__all__ = ["sample_chains"]

_MAX_INIT_TRIES = 100  # Stan's number of attempts at a random initial point


def _finite_state(model, x):
    lp, g = model.lpg(x, model.fdata, model.idata)
    g = np.asarray(g)
    if g.shape != (model.dim,):
        raise ValueError(
            f"model {model.name!r}: logdensity_and_grad returned a gradient of shape {g.shape}, "
            f"expected ({model.dim},)"
        )
    return float(lp), np.ascontiguousarray(g, dtype=np.float64)


def _initial_state(model, rng, given):
    """Stan's rule: up to 100 random points until log density and gradient are finite."""
    if given is not None:
        lp, g = _finite_state(model, given)
        if not (math.isfinite(lp) and np.all(np.isfinite(g))):
            raise InitializationError(
                f"initial_points: the given point has log density {lp} and a gradient with "
                f"{int(np.sum(~np.isfinite(g)))} non-finite entries for model {model.name!r}; "
                "give a point inside the support (on the unconstrained scale)"
            )
        return given.copy(), lp, g
    last = None
    for _ in range(_MAX_INIT_TRIES):
        x = np.ascontiguousarray(model.initial_point(rng), dtype=np.float64)
        lp, g = _finite_state(model, x)
        if math.isfinite(lp) and np.all(np.isfinite(g)):
            return x, lp, g
        last = (lp, int(np.sum(~np.isfinite(g))))
    raise InitializationError(
        f"model {model.name!r}: no initial point with a finite log density and gradient in "
        f"{_MAX_INIT_TRIES} tries (last: log density {last[0]}, {last[1]} non-finite gradient "
        "entries); check the model's support and transforms, or pass initial_points"
    )


def _find_step_size(model, rng, x, lp, g, metric, eps):
    """Stan's heuristic: double or halve until one Langevin/leapfrog step crosses 0.8 acceptance."""
    direction = 0
    for _ in range(60):
        z = rng.standard_normal(model.dim)
        log_ratio = langevin_proposal(
            x, lp, g, z, model.lpg, model.fdata, model.idata, eps, metric
        )[3]
        acc = 1.0 if log_ratio >= 0.0 else math.exp(log_ratio)
        new = 1 if acc > 0.8 else -1
        if direction == 0:
            direction = new
        elif new != direction:
            break
        eps = eps * 2.0 if direction == 1 else eps * 0.5
        if not 1e-10 < eps < 1e7:
            break
    return eps


def _initial_points(initial_points, chains, model):
    if initial_points is None:
        return [None] * chains
    arr = np.asarray(initial_points)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"initial_points must be a real array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.shape == (model.dim,):
        arr = np.broadcast_to(arr, (chains, model.dim))
    if arr.shape != (chains, model.dim):
        raise ValueError(
            f"initial_points must have shape ({model.dim},) or (chains, dim) = "
            f"({chains}, {model.dim}), got {arr.shape}"
        )
    return [np.ascontiguousarray(a) for a in arr]


def _bad_gradient_message(model, x, chain, iteration) -> str:
    """The error for a model whose gradient has the wrong length somewhere."""
    _, g = model.lpg(np.ascontiguousarray(x), model.fdata, model.idata)
    with np.printoptions(precision=6, threshold=20):
        return (
            f"model {model.name!r}: logdensity_and_grad returned a gradient of length "
            f"{np.asarray(g).shape[0]} instead of {model.dim} at the unconstrained point "
            f"{np.array2string(np.asarray(x))} (chain {chain}, iteration {iteration}); the "
            "gradient must have one entry per parameter everywhere"
        )


def _warn_nonfinite(model, n_bad: int, n_total: int) -> None:
    """Warn when the log density was NaN or +inf in a share of the transitions."""
    if n_bad == 0 or n_total == 0:
        return
    import warnings

    warnings.warn(
        f"model {model.name!r}: {n_bad} of {n_total} transitions "
        f"({100.0 * n_bad / n_total:.2g}%) met a log density of NaN or +inf and were "
        "rejected (counted as divergences): the model is undefined in part of the space "
        "the sampler visits; check it there (a log density outside the support should be "
        "-inf)",
        RuntimeWarning,
        stacklevel=3,
    )


class _Chain:
    """Mutable per-chain state between chunks (arrays the kernel updates in place)."""

    def __init__(self, model, method, rng, start, out, saved=None):
        d = model.dim
        self.pos, self.stats, self.wpos, self.wstats = out  # views into the run's arrays
        self.divergences = 0
        self.n_grad = 0  # gradient evaluations of this call, warmup included
        if saved is not None:  # resume: the state recorded in a trace (_resume)
            self.rng = rng_from_json(str(saved["rng_state"]))  # numpy str scalar
            self.x = np.ascontiguousarray(saved["position"], dtype=np.float64)
            self.g = np.ascontiguousarray(saved["grad"], dtype=np.float64)
            self.scal = np.ascontiguousarray(saved["lp_step_size"], dtype=np.float64)
            self.da = np.ascontiguousarray(saved["dual_averaging"], dtype=np.float64)
            if self.da.shape[0] == 9:  # a trace from before da[9] (count of the average)
                self.da = np.append(self.da, self.da[4])
            if self.da.shape[0] < DA_SIZE:  # before the divergence guard: no count, no switch
                self.da = np.append(self.da, np.zeros(DA_SIZE - self.da.shape[0]))
            self.metric = np.ascontiguousarray(saved["metric"], dtype=np.float64)
            self.welford = np.ascontiguousarray(saved["welford"], dtype=np.float64)
            self.done = int(saved["iteration"])
            return
        self.rng = rng
        self.x, lp, self.g = _initial_state(model, rng, start)
        # layout: samplers/_integrators.py (diagonal: sqrt(inverse mass); dense: + Cholesky)
        self.metric = method.initial_metric(d, self.g)
        eps = method.step_size
        if eps is None:
            eps = _find_step_size(model, rng, self.x, lp, self.g, self.metric, 1.0)
        self.scal = np.array([lp, float(eps)])
        self.da = da_init(float(eps), method.target_accept)
        self.welford = np.zeros(method.welford_size(d))
        self.done = 0  # iterations completed (warmup first)


def _saved_chain(state, c) -> dict:
    """Chain ``c``'s arrays of a ``sampler_state`` group, as plain NumPy values."""
    return {name: state[name].values[c] for name in state.data_vars}


def sample_chains(
    model,
    method,
    *,
    draws,
    warmup,
    chains,
    rngs,
    seed_value,
    save_warmup,
    initial_points,
    cores,
    progress,
    log_likelihood,
    resume_state=None,
):
    """Run a chain method; the arguments are validated by :func:`geobayes.driver.sample`.

    ``resume_state`` (the ``sampler_state`` group of an earlier trace) continues its
    chains from the iteration they reached; the returned trace then holds only the new
    iterations (the driver appends them to the earlier trace).
    """
    d = model.dim
    total = warmup + draws
    first = 0 if resume_state is None else int(resume_state["iteration"].values[0])
    draw_base = max(first, warmup)  # iteration of the first draw this call keeps
    n_draws_new = total - draw_base
    n_wsave = max(0, warmup - first) if save_warmup else 0
    starts = (
        [None] * chains
        if resume_state is not None
        else _initial_points(initial_points, chains, model)
    )
    prepare = getattr(method, "prepare", None)
    if prepare is not None:  # methods that set themselves up on the model (DIMS)
        method, starts = prepare(model, starts, rngs)
    check_run(
        model,
        method,
        chains=chains,
        draws=n_draws_new,
        saved_warmup=n_wsave,
        log_likelihood=log_likelihood,
        point=None if resume_state is None else resume_state["position"].values[0],
    )
    n_stats = method.n_stats
    all_pos = np.empty((chains, n_draws_new, d))
    all_stats = np.empty((chains, n_draws_new, n_stats))
    all_wpos = np.empty((chains, n_wsave, d))
    all_wstats = np.empty((chains, n_wsave, n_stats))
    state = [
        _Chain(
            model,
            method,
            rngs[c] if rngs is not None else None,
            starts[c],
            (all_pos[c], all_stats[c], all_wpos[c], all_wstats[c]),
            saved=None if resume_state is None else _saved_chain(resume_state, c),
        )
        for c in range(chains)
    ]
    flags_warm = method.warmup_flags(warmup)
    flags_all = np.concatenate([flags_warm, np.zeros(draws, dtype=np.int64)])
    params = np.ascontiguousarray(method.params_array(), dtype=np.float64)
    step = method.step_fn
    scratch = [np.empty((0, d)) for _ in range(chains)]
    scratch_s = [np.empty((0, n_stats)) for _ in range(chains)]

    def advance(c, n):
        ch = state[c]
        i0 = ch.done
        flags = np.ascontiguousarray(flags_all[i0 : i0 + n])
        if i0 >= warmup:  # sampling: write straight into the result arrays
            out_x = ch.pos[i0 - draw_base : i0 - draw_base + n]
            out_s = ch.stats[i0 - draw_base : i0 - draw_base + n]
        elif save_warmup and i0 + n <= warmup:
            out_x = ch.wpos[i0 - first : i0 - first + n]
            out_s = ch.wstats[i0 - first : i0 - first + n]
        else:
            if scratch[c].shape[0] < n:
                scratch[c] = np.empty((n, d))
                scratch_s[c] = np.empty((n, n_stats))
            out_x, out_s = scratch[c][:n], scratch_s[c][:n]
        ret = run_chunk(
            ch.rng,
            step,
            model.lpg,
            model.fdata,
            model.idata,
            ch.x,
            ch.g,
            ch.scal,
            ch.da,
            ch.metric,
            ch.welford,
            params,
            flags,
            out_x,
            out_s,
        )
        if ret < 0:
            raise ValueError(_bad_gradient_message(model, ch.x, c, i0 - ret - 1))
        ch.divergences += ret
        ch.n_grad += int(out_s[:, 3].sum())
        if i0 + n == warmup and method.adapt_step_size and warmup > 0:
            ch.scal[1] = math.exp(ch.da[1])  # final step size: the dual-averaging average
        ch.done = i0 + n

    def desc(k):
        return f"{method.name} warmup" if first + k < warmup else method.name

    stops = [warmup - first] if first < warmup else []
    done_k, interrupted, sampling_time = run_units(
        chains, total - first, advance, cores=cores, progress=progress, desc=desc, stops=stops
    )
    done = first + done_k
    n_draws = max(0, done - draw_base)
    n_warm = max(0, min(done, warmup) - first)
    positions = all_pos[:, :n_draws]
    columns = method.all_stat_names
    keep = {name: columns.index(name) for name in method.stat_names}
    stats = {name: all_stats[:, :n_draws, k] for name, k in keep.items()}
    status = all_stats[:, :n_draws, 4]  # 0 or why a transition was rejected
    n_div = int(np.count_nonzero(status))
    _warn_nonfinite(model, int(np.count_nonzero(status == NONFINITE)), status.size)
    wpos = wstats = None
    if save_warmup:
        wpos = all_wpos[:, :n_warm]
        wstats = {name: all_wstats[:, :n_warm, k] for name, k in keep.items()}
    if interrupted and done < warmup:
        warnings.warn(
            f"interrupted during warmup after {done} of {warmup} iterations: no posterior "
            "draws yet; the trace holds the adaptation state (group "
            f"'{STATE_GROUP}'"
            + (" and the warmup draws" if save_warmup else "")
            + "): continue with geobayes.sample(model, resume=trace)",
            UserWarning,
            stacklevel=3,
        )
    tree = build_trace(
        model,
        method,
        positions,
        stats,
        warmup_positions=wpos,
        warmup_stats=wstats,
        seed=seed_value,
        sampling_time=sampling_time,
        partial=interrupted,
        log_likelihood=log_likelihood,
        extra_attrs={
            "draws": n_draws,
            "warmup": warmup,
            "chains": chains,
            "n_gradient_evals": int(sum(ch.n_grad for ch in state)),
            "divergences": n_div,
            "warmup_divergences": int(sum(ch.divergences for ch in state)) - n_div,
            "warmup_done": min(done, warmup),
        },
    )
    finish = getattr(method, "finish_trace", None)
    if finish is not None:  # method-specific attributes and warnings (DIMS: hit_T_max)
        tree = finish(tree, model)
    tree[STATE_GROUP] = state_dataset(
        state, warmup=warmup, draws_requested=draws, save_warmup=int(save_warmup)
    )
    return tree
