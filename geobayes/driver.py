"""The sampling driver: chains, warmup, jitted chunks, progress bar, Ctrl-C.

``sample`` validates its inputs, finds finite initial points, then runs every chain in
chunks of the jitted :func:`geobayes.samplers._chunk.run_chunk` on a thread pool (the
kernel releases the GIL).  Between chunks Python updates the progress bar and honours
Ctrl-C: an interrupted run returns the draws made so far, marked ``partial``.  Each
chain owns a ``numpy.random.Generator`` spawned from ``seed`` and the chunk boundaries do
not change what a chain draws, so the same seed gives bit-identical traces whatever the
number of threads or the chunk sizes.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from geobayes._particle_driver import sample_particles
from geobayes.adaptation.mass_matrix import warmup_schedule
from geobayes.adaptation.step_size import da_init
from geobayes.errors import InitializationError
from geobayes.models.base import Model
from geobayes.random import chain_generators, seed_entropy
from geobayes.samplers import get_method
from geobayes.samplers._chunk import run_chunk, welford_size
from geobayes.samplers.mala import langevin_proposal
from geobayes.trace import build_trace

__all__ = ["sample"]

_MAX_INIT_TRIES = 100  # Stan's number of attempts at a random initial point
_TARGET_CHUNK_SECONDS = 0.25  # wall time of one chunk: responsive progress, negligible overhead


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _resolve_model(model) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        from geobayes.models import get

        return get(model)
    if any(c.__module__.split(".")[0] == "pymc" for c in type(model).__mro__):
        return Model.from_pymc(model)  # PyMC is imported only when given a PyMC model
    raise TypeError(
        "model must be a geobayes.Model, a pymc.Model or the name of a built-in model, "
        f"got {type(model).__name__}"
    )


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
                f"the given initial point has log density {lp} and a gradient with "
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


class _Chain:
    """Mutable per-chain state between chunks (arrays the kernel updates in place)."""

    def __init__(self, model, method, rng, start, out):
        d = model.dim
        self.rng = rng
        self.x, lp, self.g = _initial_state(model, rng, start)
        # layout: samplers/_integrators.py (diagonal: sqrt(inverse mass); dense: + Cholesky)
        self.metric = method.metric_array(d)
        eps = method.step_size
        if eps is None:
            eps = _find_step_size(model, rng, self.x, lp, self.g, self.metric, 1.0)
        self.scal = np.array([lp, float(eps)])
        self.da = da_init(float(eps), method.target_accept)
        self.welford = np.zeros(welford_size(d, method.metric == "dense"))
        self.pos, self.stats, self.wpos, self.wstats = out  # views into the run's arrays
        self.done = 0  # iterations completed (warmup first)
        self.divergences = 0
        self.n_grad = 0  # gradient evaluations, warmup included


def sample(
    model,
    method="nuts",
    *,
    draws: int | None = None,
    warmup: int | None = None,
    chains: int = 4,
    seed=None,
    progress: bool = True,
    save_warmup: bool = False,
    initial_points=None,
    cores: int | None = None,
    log_likelihood: bool = True,
    **method_kwargs,
):
    """Draw from a model's posterior; returns an ArviZ ``DataTree``.

    Parameters
    ----------
    model : geobayes.Model or str
        The target, or the name of a built-in model (``geobayes models`` lists them).
    method : str or SamplerMethod
        ``"nuts"`` (default), ``"hmc"``, ``"mala"`` or a configured object such as
        ``geobayes.NUTS(metric="dense")``.
    draws, warmup : int
        Iterations kept per chain (>= 1) and adaptation iterations discarded (>= 0;
        default: the method's ``default_warmup``, 1000 for MCMC methods, 0 for DIMS).
    chains : int
        Number of independent chains (>= 1), run concurrently.
    seed : int, SeedSequence or None
        Same seed, same trace, whatever the number of threads.
    progress : bool
        Show a progress bar.
    save_warmup : bool
        Keep warmup draws in ``warmup_posterior``/``warmup_sample_stats``.
    initial_points : array of shape (dim,) or (chains, dim), optional
        Unconstrained starting points (default: uniform(-2, 2), retried until finite).
    cores : int, optional
        Threads to use (default: all available, at most ``chains``).
    log_likelihood : bool
        Add the ``log_likelihood`` group when the model has a pointwise log-likelihood
        (default True, so that ``arviz.loo`` works; it costs one pass over the draws).
    **method_kwargs
        Hyperparameters when ``method`` is a name, e.g. ``step_size=0.1``.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats`` (and warmup groups, ``observed_data``,
        ``log_likelihood`` when available); see :mod:`geobayes.trace`.

    Examples
    --------
    >>> import geobayes
    >>> trace = geobayes.sample("eight_schools", method="hmc", draws=100, warmup=200,
    ...                         chains=2, seed=0, progress=False)
    >>> trace.posterior["theta"].dims
    ('chain', 'draw', 'school')
    """
    model = _resolve_model(model)
    method = get_method(method, **method_kwargs)
    chains = _check_count("chains", chains, 1)
    if cores is not None:
        cores = _check_count("cores", cores, 1)
    seed_value = seed_entropy(seed)
    rngs = chain_generators(
        seed_value if not isinstance(seed, np.random.SeedSequence) else seed, chains
    )
    if method.family == "particle":
        for name, value in (("draws", draws), ("warmup", warmup), ("save_warmup", save_warmup)):
            if value not in (None, False):
                raise TypeError(
                    f"{name} does not apply to the particle method {method.name!r}; set "
                    "n_particles= and n_steps= instead (chains = independent replicates)"
                )
        return sample_particles(
            model,
            method,
            chains=chains,
            rngs=rngs,
            seed_value=seed_value,
            initial_points=initial_points,
            cores=cores,
            progress=progress,
            log_likelihood=log_likelihood,
        )
    draws = _check_count("draws", 1000 if draws is None else draws, 1)
    if warmup is None:
        warmup = method.default_warmup
    warmup = _check_count("warmup", warmup, 0)
    starts = _initial_points(initial_points, chains, model)
    prepare = getattr(method, "prepare", None)
    if prepare is not None:  # methods that set themselves up on the model (DIMS)
        method, starts = prepare(model, starts, rngs)
    n_wsave = warmup if save_warmup else 0
    all_pos = np.empty((chains, draws, model.dim))
    n_stats = method.n_stats
    all_stats = np.empty((chains, draws, n_stats))
    all_wpos = np.empty((chains, n_wsave, model.dim))
    all_wstats = np.empty((chains, n_wsave, n_stats))
    state = [
        _Chain(
            model,
            method,
            rngs[c],
            starts[c],
            (all_pos[c], all_stats[c], all_wpos[c], all_wstats[c]),
        )
        for c in range(chains)
    ]
    flags_warm = warmup_schedule(warmup, method.adapt_step_size, method.adapt_mass_matrix)
    flags_all = np.concatenate([flags_warm, np.zeros(draws, dtype=np.int64)])
    total = warmup + draws
    params = np.ascontiguousarray(method.params_array(), dtype=np.float64)
    step = method.step_fn
    scratch = [np.empty((0, model.dim)) for _ in range(chains)]
    scratch_s = [np.empty((0, n_stats)) for _ in range(chains)]

    def run(c, n):
        ch = state[c]
        i0 = ch.done
        flags = np.ascontiguousarray(flags_all[i0 : i0 + n])
        if i0 >= warmup:  # sampling: write straight into the result arrays
            out_x = ch.pos[i0 - warmup : i0 - warmup + n]
            out_s = ch.stats[i0 - warmup : i0 - warmup + n]
        elif save_warmup and i0 + n <= warmup:
            out_x = ch.wpos[i0 : i0 + n]
            out_s = ch.wstats[i0 : i0 + n]
        else:
            if scratch[c].shape[0] < n:
                scratch[c] = np.empty((n, model.dim))
                scratch_s[c] = np.empty((n, n_stats))
            out_x, out_s = scratch[c][:n], scratch_s[c][:n]
        ch.divergences += run_chunk(
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
        ch.n_grad += int(out_s[:, 3].sum())
        if i0 + n == warmup and method.adapt_step_size and warmup > 0:
            ch.scal[1] = math.exp(ch.da[1])  # final step size: the dual-averaging average
        ch.done = i0 + n

    n_threads = min(chains, cores or os.cpu_count() or 1)

    def run_all(n):
        if pool is None:
            for c in range(chains):
                run(c, n)
            return
        futures = [pool.submit(run, c, n) for c in range(chains)]
        try:
            wait(futures)
        finally:  # on Ctrl-C, let the running chunks finish so the state stays consistent
            wait(futures)
            for f in futures:
                f.result()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total * chains,
            desc=f"{method.name} warmup" if warmup else method.name,
            unit="it",
            leave=True,
            dynamic_ncols=True,
        )
    t0 = time.perf_counter()
    interrupted = False
    chunk = 8
    pool = ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else None
    try:
        while state[0].done < total:
            done = state[0].done
            n = min(chunk, total - done)
            if done < warmup:  # chunks never straddle the end of warmup
                n = min(n, warmup - done)
            t_chunk = time.perf_counter()
            try:
                run_all(n)
            except KeyboardInterrupt:
                interrupted = True
            elapsed = time.perf_counter() - t_chunk
            if bar is not None:
                bar.update(n * chains)
                if state[0].done == warmup and warmup:
                    bar.set_description(method.name)
            if interrupted:
                break
            rate = n / max(elapsed, 1e-6)
            chunk = int(min(max(8, rate * _TARGET_CHUNK_SECONDS), 4 * chunk, 100_000))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
    sampling_time = time.perf_counter() - t0

    done = min(ch.done for ch in state)
    n_draws = max(0, done - warmup)
    n_warm = min(done, warmup)
    positions = all_pos[:, :n_draws]
    columns = method.all_stat_names
    keep = {name: columns.index(name) for name in method.stat_names}
    stats = {name: all_stats[:, :n_draws, k] for name, k in keep.items()}
    n_div = int(stats["diverging"].sum())
    wpos = wstats = None
    if save_warmup:
        wpos = all_wpos[:, :n_warm]
        wstats = {name: all_wstats[:, :n_warm, k] for name, k in keep.items()}
    trace = build_trace(
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
        },
    )
    finish = getattr(method, "finish_trace", None)
    if finish is not None:  # method-specific attributes and warnings (DIMS: hit_T_max)
        trace = finish(trace, model)
    return trace
