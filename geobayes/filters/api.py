"""``filter()``: run a filter on a state-space model and return a ``DataTree``.

The driver validates everything once in Python, then calls a jitted chunk
kernel for ``chunk_size`` cycles at a time, so that it can update a progress
bar (tqdm) and honour Ctrl-C between chunks: an interrupted run returns what
was filtered so far with the root attribute ``partial = 1``.

Randomness: ``SeedSequence(seed).spawn(2)`` gives one generator for the
initial ensemble and one for the filter (perturbations, rotations, process
noise, resampling), all drawn serially; the parallel loops do arithmetic
only, so a seed gives bit-identical output whatever ``NUMBA_NUM_THREADS`` is.

Missing data: a row of observations that is all NaN means no observation at
that cycle; every filter then skips the analysis (the analysis equals the
forecast, the log-evidence increment is 0).  NaN in part of a row, or an
infinite value, raises ``ValueError`` naming the first bad cycle.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time as _time
from typing import NamedTuple

import numpy as np

from .._loop import check_count
from .._memory import FLOAT, require
from ..random import as_seed_sequence
from . import _trace
from ._blas import single_threaded_blas
from ._localization import (
    GC_FACTOR,
    Taper,
    auto_batch_size,
    local_obs_sets,
    transport_batch_size,
)
from ._types import OBS_LOGLIK_SIG, OBS_SIMULATE_SIG
from .enkf import ETKF_VARIANT, LETKF_VARIANT, PERTURBED_OBS, ensemble_chunk
from .kalman import kalman_filter
from .methods import (
    ETKF,
    FACTORIZATIONS,
    LETKF,
    EnKF,
    KalmanFilter,
    ParticleFilter,
    Resampling,
    TransportFilter,
    get_method,
)
from .particle import MULTINOMIAL, STRATIFIED, SYSTEMATIC, no_loglik, particle_chunk
from .ssm import StateSpaceModel, as_float_array, as_float_matrix, as_jitted

__all__ = ["filter", "filtering", "Cycle", "validate_observations"]

_STORES = ("moments", "ensemble")
_SCHEMES = {
    Resampling.SYSTEMATIC: SYSTEMATIC,
    Resampling.STRATIFIED: STRATIFIED,
    Resampling.MULTINOMIAL: MULTINOMIAL,
}


def validate_observations(ssm: StateSpaceModel, observations):
    """Observations as a C-contiguous float64 ``(K, m)`` array and the observed-cycle mask.

    Missing data: a row that is entirely NaN means "no observation at this
    cycle" (the filter skips the analysis; the row is returned filled with
    zeros and ``observed[k] = 0``).  Partly missing rows and infinite values
    raise ``ValueError``.
    """
    y = as_float_array(observations, "observations")
    if y.ndim == 1 and ssm.obs_dim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != ssm.obs_dim or y.shape[0] < 1:
        raise ValueError(
            f"observations must have shape (n_cycles, {ssm.obs_dim}) for model {ssm.name!r} "
            f"(obs_dim = {ssm.obs_dim}), got shape {y.shape}"
        )
    if np.isinf(y).any():
        k = int(np.argmax(np.isinf(y).any(axis=1)))
        raise ValueError(f"observations contain infinite values (first at cycle {k})")
    nan = np.isnan(y)
    partial = nan.any(axis=1) & ~nan.all(axis=1)
    if partial.any():
        k = int(np.argmax(partial))
        raise ValueError(
            f"observations contain NaN in part of a row (first at cycle {k}: "
            f"{int(nan[k].sum())} of {ssm.obs_dim} values); only whole rows may be missing "
            "(all NaN = no observation at that cycle)"
        )
    observed = (~nan.all(axis=1)).astype(np.uint8)
    return np.ascontiguousarray(np.where(nan, 0.0, y)), observed


def _tqdm(total, progress, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, unit="cycle", desc=desc, leave=False)


def filter(  # noqa: A001 - mirrors geobayes.sample
    ssm,
    observations,
    method=None,
    *,
    ensemble_size=None,
    seed=None,
    truth=None,
    store=None,
    progress=None,
    burn_in=None,
    chunk_size=None,
    threads=None,
    **method_params,
):
    """Filter ``observations`` of a state-space model.

    Parameters
    ----------
    ssm : StateSpaceModel or str
        The model, or the name of a built-in one (see :mod:`geobayes.filters.models`).
        Any object with a ``run_filter`` method (e.g. an HGF) is delegated to: the call
        returns
        ``ssm.run_filter(observations, **explicit_keywords)``.
    observations : array_like of shape (K, m)
        Observation ``k`` belongs to time ``t0 + (k + 1) * dt * steps_per_obs``.
        A row of NaN means no observation at that cycle (the analysis is
        skipped); NaN in part of a row or infinite values raise ``ValueError``.
    method : str or filter object, default "etkf"
        ``"kalman"``, ``"enkf"``, ``"etkf"``, ``"letkf"``, ``"pf"`` or an
        instance of :class:`KalmanFilter`, :class:`EnKF`, :class:`ETKF`,
        :class:`LETKF`, :class:`ParticleFilter`.
    ensemble_size : int, optional
        Members or particles (overrides the method's own value).
    seed : int, SeedSequence or None
        Randomness of the initial ensemble and the filter.
    truth : array_like of shape (K, d), optional
        The true states; adds per-cycle ``rmse`` and the ``truth`` group.
    store : {"moments", "ensemble"}, default "moments"
        ``"moments"`` keeps O(K d) numbers; ``"ensemble"`` also keeps every
        analysis ensemble (O(K N d)) in the ``posterior`` group.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    burn_in : int, default 0
        Cycles excluded from the summary attributes (``rmse_mean`` ...).
    chunk_size : int, optional
        Cycles per call of the jitted kernel (default ``max(10, K // 50)``).
    threads : int, optional
        Numba threads for the parallel loops (over members, particles or local
        domains).  Default: as many of ``numba.get_num_threads()`` as there
        are idle cores (1-minute load average) when a cycle costs more than
        about 3e7 flops, else 1.  Every cycle opens a few parallel regions and
        each waits for all its threads: measured on a 2-core machine shared
        with other jobs, a region then cost 5-10 ms of scheduling latency, and
        LETKF on Lorenz-96 (d = 400, N = 40) took 39 ms per cycle with 2
        threads against 13 ms with one (8 ms with 2 threads on idle cores).
        The output does not depend on it.
    **method_params
        Parameters of the method when given by name (e.g. ``inflation=1.02``).

    Returns
    -------
    xarray.DataTree
        Groups ``filtered``, ``predicted``, ``observed_data``, ``sample_stats``
        and ``truth``/``posterior`` when applicable; see
        :mod:`geobayes.filters._trace`.

    Examples
    --------
    >>> from geobayes.filters import filter, models
    >>> ssm = models.get("lorenz63")
    >>> x, y = ssm.simulate(200, seed=0)
    >>> tree = filter(ssm, y, "etkf", ensemble_size=10, inflation=1.02, seed=1, truth=x)
    >>> bool(tree.attrs["rmse_mean"] < 1.4)
    True
    """
    if isinstance(ssm, str):  # a built-in model by name, as geobayes.sample accepts
        from . import models

        ssm = models.get(ssm)
    if hasattr(ssm, "run_filter") and callable(ssm.run_filter):
        given = dict(
            method=method,
            ensemble_size=ensemble_size,
            seed=seed,
            truth=truth,
            store=store,
            progress=progress,
            burn_in=burn_in,
            chunk_size=chunk_size,
            threads=threads,
        )
        kwargs = {k: v for k, v in given.items() if v is not None}
        kwargs.update(method_params)
        return ssm.run_filter(observations, **kwargs)
    if not isinstance(ssm, StateSpaceModel):
        raise TypeError(
            "ssm must be a geobayes.filters.StateSpaceModel (see geobayes.filters.models.get) "
            f"or an object with run_filter, got {type(ssm).__name__}"
        )
    method = "etkf" if method is None else method
    store = "moments" if store is None else store
    if store not in _STORES:
        raise ValueError(f"store must be one of {_STORES}, got {store!r}")
    if ensemble_size is not None:
        method_params = dict(method_params, ensemble_size=ensemble_size)
    front = get_method(method, **_applicable(method, method_params))
    y, observed = validate_observations(ssm, observations)
    K = y.shape[0]
    _check_memory(front, ssm, K, store)
    x_true = None
    if truth is not None:
        x_true = as_float_matrix(truth, "truth")
        if x_true.shape != (K, ssm.dim):
            raise ValueError(f"truth must have shape ({K}, {ssm.dim}), got {x_true.shape}")
    burn_in = 0 if burn_in is None else check_count("burn_in", burn_in, 0)
    if not 0 <= burn_in < K:
        raise ValueError(f"burn_in must be in [0, {K}), got {burn_in}")
    chunk = max(10, K // 50) if chunk_size is None else check_count("chunk_size", chunk_size, 1)
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
    elif not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")

    n_threads = _choose_threads(front, ssm, threads)

    ss = as_seed_sequence(seed)
    init_ss, run_ss = ss.spawn(2)
    _compile_kernel(front)  # compile or load from the disk cache, outside the timing
    t_start = _time.perf_counter()
    with _numba_threads(n_threads), single_threaded_blas():
        if isinstance(front, KalmanFilter):
            out = _run_kalman(ssm, y, observed)
        elif isinstance(front, ParticleFilter):
            out = _run_particle(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk)
        elif isinstance(front, TransportFilter):
            out = _run_transport(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk)
        else:
            out = _run_ensemble(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk)
    elapsed = _time.perf_counter() - t_start

    n_done = out.pop("n_done")
    y_out = np.where(observed[:, None] > 0, y, np.nan)
    return _assemble(
        front, ssm, y_out, x_true, out, n_done, K, burn_in, store, ss, elapsed, n_threads
    )


def filter_memory_bytes(front, ssm, n_cycles: int, store: str) -> float:
    """Estimated peak memory (bytes) of :func:`filter`: outputs, trace copy, working set."""
    N = int(getattr(front, "ensemble_size", 1) or 1)
    d, m, K = ssm.dim, ssm.obs_dim, n_cycles
    kept = 4.0 * K * d + 10.0 * K + K * m  # moments, per-cycle statistics, observations
    if isinstance(front, KalmanFilter):
        kept += 1.0 * K * d * d  # filtered covariances
    if store == "ensemble":
        kept += 1.0 * K * N * (d + 1)
    work = 4.0 * N * d + 3.0 * N * m + 2.0 * d * d + 2.0 * m * m
    # N x N matrices: the transport filter's pairwise kernels; the square-root filters
    # factor in the smaller of ensemble (N x N) and observation space.  The random rotation
    # forms none (Householder reflectors applied to the anomalies, enkf.rotate_anomalies).
    forced = getattr(front, "factorization", "auto") == "ensemble"
    if isinstance(front, TransportFilter) or forced:
        work += 3.0 * N * N
    elif isinstance(front, (ETKF, LETKF)):
        work += 3.0 * min(N, m) ** 2
    return FLOAT * (2.0 * kept + work)  # the trace holds a copy of what was kept


def _check_memory(front, ssm, n_cycles, store) -> None:
    N = getattr(front, "ensemble_size", None)
    size = f"ensemble of {N} x {ssm.dim}" if N else f"state of {ssm.dim}"
    require(
        filter_memory_bytes(front, ssm, n_cycles, store),
        f"filtering {n_cycles} cycles with an {size}"
        + (" (store='ensemble')" if store == "ensemble" else ""),
        "reduce ensemble_size or the number of cycles"
        + (", or use store='moments'" if store == "ensemble" else ""),
    )


def _compile_kernel(front) -> None:
    """Make the method's kernel ready (kernels compile on first use, see ``_lazy``)."""
    from . import kalman
    from .transport import transport_chunk

    kernel = {
        KalmanFilter: kalman._kalman_kernel,
        ParticleFilter: particle_chunk,
        TransportFilter: transport_chunk,
    }.get(type(front), ensemble_chunk)
    if getattr(getattr(front, "analysis", None), "value", None) == "optimize":
        from .transport_opt import opt_forecast as kernel
    getattr(kernel, "dispatcher", None)


#: Flops per cycle above which the parallel loops use every Numba thread (see
#: ``filter(threads=...)``: below this, thread wake-up latency outweighs the work).
PARALLEL_FLOPS = 3e7


def _cycle_flops(front, ssm) -> float:
    """Rough cost of one cycle, to decide whether threads pay."""
    if isinstance(front, KalmanFilter):
        return 0.0
    N, d, m = front.ensemble_size, ssm.dim, ssm.obs_dim
    cost = 30.0 * N * d * ssm.steps_per_obs
    if isinstance(front, LETKF):
        r = front.localization_radius
        support = {Taper.GASPARI_COHN: 2 * GC_FACTOR * r, Taper.GAUSS: 4 * r}.get(front.taper, r)
        n_local = min(m, max(1.0, m * min(1.0, (2 * support + 1) / max(d, 1))))
        k = min(N, n_local)
        cost += d / letkf_batch_size(front, ssm) * (10.0 * k**3 + 2.0 * N * k * (n_local + 1))
    elif isinstance(front, ParticleFilter):
        cost += N * m * m
    elif isinstance(front, TransportFilter):
        # about 20 flow steps, 4 N x N kernel blocks each, per local domain
        flow = 20.0 * 4.0 * N * N * front.n_pairings
        if front.localization_radius is None:
            cost += flow * (m + d)
        else:
            r = front.localization_radius
            support = {Taper.GASPARI_COHN: 2 * GC_FACTOR * r, Taper.GAUSS: 4 * r}.get(
                front.taper, r
            )
            n_local = min(m, max(1.0, m * min(1.0, (2 * support + 1) / max(d, 1))))
            b = transport_batch_size_used(front, ssm)
            cost += d / b * flow * (n_local + b)
    else:
        cost += N * N * (m + d)
    return cost


def transport_batch_size_used(front, ssm) -> int:
    """The transport filter's ``batch_size``, or the automatic one when it is ``None``."""
    if front.batch_size is not None:
        return int(front.batch_size)
    if front.localization_radius is None:
        return 1
    return transport_batch_size(ssm.state_coords, front.localization_radius)


def letkf_batch_size(front, ssm) -> int:
    """The LETKF's ``batch_size``, or the automatic one when it is ``None``."""
    if front.batch_size is not None:
        return int(front.batch_size)
    return auto_batch_size(ssm.state_coords, front.localization_radius)


def _choose_threads(front, ssm, threads) -> int:
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    if threads is not None:
        n = check_count("threads", threads, 1)
        if not 1 <= n <= available:
            raise ValueError(f"threads must be in [1, {available}] (NUMBA_NUM_THREADS), got {n}")
        return n
    if _cycle_flops(front, ssm) < PARALLEL_FLOPS:
        return 1
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0] + 1.0  # our own thread counts in load
    except (AttributeError, OSError):  # no load average on this platform
        idle = float(os.cpu_count() or 1)
    return int(max(1, min(numba.get_num_threads(), np.floor(idle + 0.25))))


class _numba_threads:
    """Context manager setting ``numba.set_num_threads`` and restoring it."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import numba

        self.prev = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.prev)
        return False


def _applicable(method, params):
    """Drop ``ensemble_size`` for methods without one (the Kalman filter)."""
    if "ensemble_size" not in params:
        return params
    cls = method if isinstance(method, type) else None
    if isinstance(method, str):
        from .methods import METHODS

        cls = METHODS.get(method.lower())
    elif not isinstance(method, type):
        cls = type(method)
    if cls is not None and dataclasses.is_dataclass(cls):
        if "ensemble_size" not in {f.name for f in dataclasses.fields(cls)}:
            params = {k: v for k, v in params.items() if k != "ensemble_size"}
    return params


def _outputs(K, N, d, store):
    out = {
        "pred_mean": np.zeros((K, d)),
        "pred_sd": np.zeros((K, d)),
        "filt_mean": np.zeros((K, d)),
        "filt_sd": np.zeros((K, d)),
    }
    out["ens"] = np.zeros((K if store == "ensemble" else 0, N, d))
    return out


def _chunked(K, chunk, progress, desc, run, out):
    """Call ``run(k0, k1)`` over chunks; stop cleanly on Ctrl-C or divergence.

    Returns the number of cycles whose output is valid.  A filter diverges
    when its ensemble becomes non-finite: the linear algebra then raises
    (``LinAlgError``) or the moments turn NaN.  The run stops there with a
    ``RuntimeWarning`` and the cycles before are kept (``out["diverged"]``).
    """
    import warnings

    done = 0
    bar = _tqdm(K, progress, desc)
    try:
        while done < K:
            k1 = min(K, done + chunk)
            try:
                run(done, k1)
            except np.linalg.LinAlgError:
                bad = done + _first_nonfinite(out["filt_mean"][done:k1], out["filt_sd"][done:k1])
            else:
                bad = _first_nonfinite(out["filt_mean"][done:k1], None)
                bad = None if bad is None else done + bad
            if bad is not None:
                out["diverged"] = int(bad)
                warnings.warn(
                    f"{desc}: the ensemble became non-finite at cycle {bad} (the filter "
                    f"diverged); returning the {bad} cycles before",
                    RuntimeWarning,
                    stacklevel=4,
                )
                done = int(bad)
                break
            bar.update(k1 - done)
            done = k1
    except KeyboardInterrupt:
        pass
    finally:
        bar.close()
    return done


def _first_nonfinite(mean, sd):
    """Index of the first row that is non-finite (or, with ``sd``, never written)."""
    bad = ~np.isfinite(mean).all(axis=1)
    if sd is not None:  # rows after an exception keep their zero initial values
        bad |= (mean == 0).all(axis=1) & (sd == 0).all(axis=1)
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else (None if sd is None else mean.shape[0])


def _whitening(R):
    vals, vecs = np.linalg.eigh(R)
    return np.ascontiguousarray((vecs / np.sqrt(vals)) @ vecs.T)


def _run_ensemble(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk):
    run, out, _ = _prepare_ensemble(front, ssm, y, observed, init_ss, run_ss, store)
    out["n_done"] = _chunked(y.shape[0], chunk, progress, front.name, run, out)
    return out


def _run_particle(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk):
    run, out, _ = _prepare_particle(front, ssm, y, observed, init_ss, run_ss, store)
    out["n_done"] = _chunked(y.shape[0], chunk, progress, front.name, run, out)
    n = out["n_done"]
    _warn_if_collapsed(front, out["filt_mean"][:n], out["filt_sd"][:n], observed[:n])
    return out


#: Relative spread below which the particles are copies of one another.
_COLLAPSED_SPREAD = 1e-8


def _warn_if_collapsed(front, mean, sd, observed) -> None:
    """Warn when a particle filter's ensemble keeps collapsing to copies of one particle.

    The weights do not show it (copies weigh the same, so the effective sample size
    looks large); the spread does: below ``1e-8`` of the state's magnitude in every
    component means the particles are identical.
    """
    import warnings

    keep = observed > 0
    if np.count_nonzero(keep) < 10:
        return
    scale = np.abs(mean[keep]) + 1.0
    collapsed = np.all(sd[keep] < _COLLAPSED_SPREAD * scale, axis=1)
    frac = float(np.mean(collapsed))
    if frac > 0.5:
        warnings.warn(
            f"particle filter: in {100 * frac:.0f}% of the observed cycles all "
            f"{front.ensemble_size} particles were copies of one (spread ~ 0): the ensemble "
            "has collapsed and its estimates are unreliable; set regularization > 0 (e.g. "
            "2.4, jitter after resampling), increase ensemble_size or use an ensemble "
            "Kalman filter",
            RuntimeWarning,
            stacklevel=4,
        )


def _prepare_ensemble(front, ssm, y, observed, init_ss, run_ss, store):
    """Allocate outputs; return ``(run(k0, k1), outputs, state arrays)``."""
    if not ssm.gaussian_obs:
        if ssm.likelihood_free:
            advice = "it is likelihood-free (observation simulator only): use method='transport'"
        elif ssm.obs_simulator is not None:
            advice = "use method='pf' or method='transport'"
        else:
            advice = "use method='pf'"
        raise TypeError(
            f"{type(front).__name__} needs additive Gaussian observation noise (obs_noise_cov); "
            f"model {ssm.name!r} has a non-Gaussian likelihood: {advice}"
        )
    N, d, K = front.ensemble_size, ssm.dim, y.shape[0]
    E = ssm.initial_ensemble(np.random.default_rng(init_ss), N)
    rng = np.random.default_rng(run_ss)
    out = _outputs(K, N, d, store)
    R = ssm.obs_noise_cov
    Rchol = ssm._obs_chol
    Rm12 = _whitening(R)
    variant = {EnKF: PERTURBED_OBS, ETKF: ETKF_VARIANT, LETKF: LETKF_VARIANT}[type(front)]
    # Gaussian log-evidence of the forecast ensemble (EnKF/ETKF; the LETKF has no global one)
    out["lei"] = np.zeros(K if variant != LETKF_VARIANT else 0)
    log_norm = 0.5 * (ssm.obs_dim * np.log(2 * np.pi) + np.linalg.slogdet(R)[1])
    rotate = bool(getattr(front, "rotate", False))
    space = 0
    if isinstance(front, LETKF):
        block_ptr, indptr, indices, sqrtc = local_obs_sets(
            ssm.state_coords,
            ssm.obs_coords,
            ssm.domain_length,
            front.localization_radius,
            front.taper,
            letkf_batch_size(front, ssm),
            front.taper_cut,
        )
        space = FACTORIZATIONS[front.factorization]
    else:
        block_ptr, indptr = np.zeros(1, np.int64), np.zeros(1, np.int64)
        indices, sqrtc = np.zeros(0, np.int64), np.zeros(0)

    def run(k0, k1):
        ensemble_chunk(
            rng,
            E,
            k0,
            k1,
            ssm.t0,
            ssm.dt,
            ssm.steps_per_obs,
            ssm.step,
            ssm.step_data,
            ssm.observe,
            ssm.observe_data,
            y,
            observed,
            R,
            Rchol,
            Rm12,
            ssm._process_chol,
            variant,
            front.inflation,
            rotate,
            block_ptr,
            indptr,
            indices,
            sqrtc,
            out["pred_mean"],
            out["pred_sd"],
            out["filt_mean"],
            out["filt_sd"],
            out["ens"],
            log_norm,
            out["lei"],
            space,
        )

    return run, out, (E, None)


def _run_transport(front, ssm, y, observed, init_ss, run_ss, store, progress, chunk):
    run, out, _ = _prepare_transport(front, ssm, y, observed, init_ss, run_ss, store)
    out["n_done"] = _chunked(y.shape[0], chunk, progress, front.name, run, out)
    return out


def _transport_codes(front, ssm):
    """Integer codes of the transport filter's enums for the kernel."""
    from . import transport as tk
    from .methods import Gain, TransportKernel

    kernel = {
        TransportKernel.GAUSSIAN: tk.GAUSSIAN,
        TransportKernel.INVERSE_MULTIQUADRIC: tk.INVERSE_MULTIQUADRIC,
        TransportKernel.NEGATIVE_DISTANCE: tk.NEGATIVE_DISTANCE,
    }[front.kernel]
    gain = front.gain
    if gain is Gain.AUTO:
        gain = Gain.ANALYTIC if ssm.gaussian_obs else Gain.EMPIRICAL
    if gain is Gain.ANALYTIC and not ssm.gaussian_obs:
        raise TypeError(
            f"gain='analytic' needs additive Gaussian observation noise (obs_noise_cov); model "
            f"{ssm.name!r} is likelihood-free: use gain='empirical' (or 'auto')"
        )
    gain = {Gain.ANALYTIC: tk.GAIN_ANALYTIC, Gain.EMPIRICAL: tk.GAIN_EMPIRICAL}.get(
        gain, tk.GAIN_NONE
    )
    return kernel, gain


def _prepare_transport(front, ssm, y, observed, init_ss, run_ss, store):
    """Allocate outputs; return ``(run(k0, k1), outputs, state arrays)``."""
    from .methods import Regression, Stopping
    from .transport import (
        REGRESSION_KERNEL,
        REGRESSION_NONE,
        STOP_EXPECTED_FLOOR,
        STOP_MAX_STEPS,
        STOP_NOISE_FLOOR,
        no_simulator,
        transport_chunk,
    )

    if not ssm.gaussian_obs and ssm.obs_simulator is None:
        raise TypeError(
            f"the transport filter needs an observation simulator (obs_simulator) or additive "
            f"Gaussian noise (obs_noise_cov); model {ssm.name!r} has neither"
        )
    N, d, K = front.ensemble_size, ssm.dim, y.shape[0]
    E = ssm.initial_ensemble(np.random.default_rng(init_ss), N)
    rng = np.random.default_rng(run_ss)
    out = _outputs(K, N, d, store)
    out["tstats"] = np.zeros((K, 4))
    kernel, gain = _transport_codes(front, ssm)
    use_sim = not ssm.gaussian_obs
    if use_sim:
        R, Rchol = np.zeros((0, 0)), np.zeros((0, 0))
        simulate, sim_data, noise_dim = ssm.obs_simulator, ssm.simulator_data, ssm.obs_noise_dim
    else:
        R, Rchol = ssm.obs_noise_cov, ssm._obs_chol
        simulate = as_jitted(no_simulator, OBS_SIMULATE_SIG, "")
        sim_data, noise_dim = np.zeros(0), ssm.obs_dim
    if front.localization_radius is not None:
        block_ptr, indptr, indices, sqrtc = local_obs_sets(
            ssm.state_coords,
            ssm.obs_coords,
            ssm.domain_length,
            front.localization_radius,
            front.taper,
            transport_batch_size_used(front, ssm),
        )
    else:  # one global domain
        m = ssm.obs_dim
        block_ptr = np.array([0, d], np.int64)
        indptr = np.array([0, m], np.int64)
        indices, sqrtc = np.arange(m, dtype=np.int64), np.ones(m)
    from .methods import Analysis

    if front.analysis is Analysis.OPTIMIZE:  # spec §2.6: L-BFGS fit of the map, per domain
        from .transport_opt import make_run

        domains = (block_ptr, indptr, indices, sqrtc)
        args = (R, Rchol, use_sim, simulate, sim_data, noise_dim, domains, gain, kernel)
        return make_run(front, ssm, E, rng, y, observed, *args, out), out, (E, None)
    cfg = (
        int(gain),
        int(kernel),
        float(front.bandwidth_factor),
        float(front.obs_weight),
        float(front.step_size),
        int(front.max_steps),
        float(front.clip),
        float(front.noise_injection),
        {
            Stopping.NOISE_FLOOR: STOP_NOISE_FLOOR,
            Stopping.EXPECTED_FLOOR: STOP_EXPECTED_FLOOR,
        }.get(front.stopping, STOP_MAX_STEPS),
        REGRESSION_KERNEL if front.regression is Regression.KERNEL else REGRESSION_NONE,
        0 if front.field_size is None else min(int(front.field_size), N),
    )

    def run(k0, k1):
        transport_chunk(
            rng,
            E,
            k0,
            k1,
            ssm.t0,
            ssm.dt,
            ssm.steps_per_obs,
            ssm.step,
            ssm.step_data,
            ssm.observe,
            ssm.observe_data,
            use_sim,
            simulate,
            sim_data,
            int(noise_dim),
            y,
            observed,
            R,
            Rchol,
            ssm._process_chol,
            (block_ptr, indptr, indices, sqrtc),
            cfg,
            front.n_pairings,
            front.inflation,
            (out["pred_mean"], out["pred_sd"], out["filt_mean"], out["filt_sd"]),
            out["ens"],
            out["tstats"],
        )

    return run, out, (E, None)


def _prepare_particle(front, ssm, y, observed, init_ss, run_ss, store):
    """Allocate outputs; return ``(run(k0, k1), outputs, state arrays)``."""
    if ssm.obs_loglik is None and not ssm.gaussian_obs:
        raise TypeError(
            f"the particle filter needs an observation density (obs_loglik or obs_noise_cov); "
            f"model {ssm.name!r} is likelihood-free: use method='transport'"
        )
    N, d, K = front.ensemble_size, ssm.dim, y.shape[0]
    E = ssm.initial_ensemble(np.random.default_rng(init_ss), N)
    lw = np.full(N, -np.log(N))
    rng = np.random.default_rng(run_ss)
    out = _outputs(K, N, d, store)
    out["logw"] = np.zeros((K if store == "ensemble" else 0, N))
    out["ess"], out["lei"], out["resampled"] = np.zeros(K), np.zeros(K), np.zeros(K)
    if ssm.obs_loglik is not None:
        use_custom, loglik, ldata = True, ssm.obs_loglik, ssm.loglik_data
        Rm12, log_norm = np.zeros((0, 0)), 0.0
    else:
        use_custom, loglik, ldata = False, as_jitted(no_loglik, OBS_LOGLIK_SIG, ""), np.zeros(0)
        R = ssm.obs_noise_cov
        Rm12 = _whitening(R)
        log_norm = 0.5 * (ssm.obs_dim * np.log(2 * np.pi) + np.linalg.slogdet(R)[1])

    def run(k0, k1):
        particle_chunk(
            rng,
            E,
            lw,
            k0,
            k1,
            ssm.t0,
            ssm.dt,
            ssm.steps_per_obs,
            ssm.step,
            ssm.step_data,
            ssm.observe,
            ssm.observe_data,
            y,
            observed,
            Rm12,
            ssm._process_chol,
            float(log_norm),
            use_custom,
            loglik,
            ldata,
            front.resample_threshold,
            front.regularization,
            _SCHEMES[front.resampling],
            out["pred_mean"],
            out["pred_sd"],
            out["filt_mean"],
            out["filt_sd"],
            out["ens"],
            out["logw"],
            out["ess"],
            out["lei"],
            out["resampled"],
        )

    return run, out, (E, lw)


def _run_kalman(ssm, y, observed):
    if not ssm.is_linear_gaussian:
        raise TypeError(
            f"the Kalman filter needs a linear-Gaussian model (transition_matrix, "
            f"observation_matrix, obs_noise_cov, steps_per_obs = 1); {ssm.name!r} is not one"
        )
    Q = ssm.process_noise_cov if ssm.process_noise_cov is not None else np.zeros((ssm.dim,) * 2)
    r = kalman_filter(
        ssm.transition_matrix,
        Q,
        ssm.observation_matrix,
        ssm.obs_noise_cov,
        ssm.initial_mean,
        ssm.initial_cov,
        y,
        observed,
    )
    sd = lambda P: np.sqrt(np.clip(np.diagonal(P, axis1=1, axis2=2), 0, None))  # noqa: E731
    return {
        "pred_mean": r.predicted_mean,
        "pred_sd": sd(r.predicted_cov),
        "filt_mean": r.filtered_mean,
        "filt_sd": sd(r.filtered_cov),
        "filt_cov": r.filtered_cov,
        "lei": r.log_evidence_increment,
        "n_done": y.shape[0],
    }


def _assemble(front, ssm, y, x_true, out, n, K, burn_in, store, seed, elapsed, threads):
    from .. import __version__

    st = ("time", "state")
    filtered = {"mean": (st, out["filt_mean"][:n]), "sd": (st, out["filt_sd"][:n])}
    if "filt_cov" in out:
        filtered["covariance"] = (("time", "state", "state_"), out["filt_cov"][:n])
    predicted = {"mean": (st, out["pred_mean"][:n]), "sd": (st, out["pred_sd"][:n])}
    stats = {
        "spread": np.sqrt(np.mean(out["filt_sd"][:n] ** 2, axis=1)),
        "spread_predicted": np.sqrt(np.mean(out["pred_sd"][:n] ** 2, axis=1)),
    }
    if x_true is not None:
        stats["rmse"] = np.sqrt(np.mean((out["filt_mean"][:n] - x_true[:n]) ** 2, axis=1))
        stats["rmse_predicted"] = np.sqrt(np.mean((out["pred_mean"][:n] - x_true[:n]) ** 2, axis=1))
    if "lei" in out and out["lei"].shape[0]:
        stats["log_evidence_increment"] = out["lei"][:n]
    if "tstats" in out:
        for j, key in enumerate(("mmd2_initial", "mmd2_final", "mmd2_null", "n_flow_steps")):
            stats[key] = out["tstats"][:n, j]
    if "ess" in out:
        stats["ess"] = out["ess"][:n]
        stats["resampled"] = out["resampled"][:n].astype(np.int8)
    ensemble = None
    if store == "ensemble" and out.get("ens") is not None and out["ens"].shape[0]:
        ens = out["ens"][:n].transpose(1, 0, 2)[None]
        ensemble = {"ensemble": (("chain", "draw", "time", "state"), ens)}
        if "logw" in out:
            ensemble["log_weight"] = (("chain", "draw", "time"), out["logw"][:n].T[None])
    settings = front.settings()
    settings.update(store=store, ssm=ssm.name)
    if isinstance(front, LETKF):  # the automatic choice, as used
        settings["batch_size_used"] = letkf_batch_size(front, ssm)
    if isinstance(front, TransportFilter) and front.localization_radius is not None:
        settings["batch_size_used"] = transport_batch_size_used(front, ssm)
    attrs = {
        "inference_library_version": __version__,
        "method": front.name,
        "settings": settings,
        "seed": int(seed.entropy) if seed.entropy < 2**63 else str(seed.entropy),
        "filtering_time": float(elapsed),
        "ssm": ssm.name,
        "n_cycles": int(n),
        "threads": int(threads),
        "partial": n < K,
        "diverged": "diverged" in out,
        "weighted": isinstance(front, ParticleFilter) and ensemble is not None,
    }
    if seed.spawn_key:  # a spawned SeedSequence: entropy alone does not repeat the run
        attrs["seed_spawn_key"] = ",".join(str(int(v)) for v in seed.spawn_key)
    attrs.update(_trace.summary_attrs(stats, min(burn_in, max(n - 1, 0))))
    return _trace.build_tree(
        times=ssm.times(K)[:n],
        filtered=filtered,
        predicted=predicted,
        observations=y[:n],
        stats=stats,
        truth=None if x_true is None else x_true[:n],
        ensemble=ensemble,
        attrs=attrs,
    )


class Cycle(NamedTuple):
    """One assimilation cycle yielded by :func:`filtering`.

    Attributes
    ----------
    index : int
        Cycle number ``k`` (0-based; observation row ``k``).
    time : float
    forecast_mean, forecast_sd : ndarray of shape (d,)
    mean, sd : ndarray of shape (d,)
        Analysis moments.
    ensemble : ndarray of shape (N, d)
        A copy of the analysis ensemble (particles).
    log_weights : ndarray of shape (N,) or None
        Normalised log weights (particle filter only).
    stats : dict
        ``ess``, ``log_evidence_increment``, ``resampled`` where defined.
    """

    index: int
    time: float
    forecast_mean: np.ndarray
    forecast_sd: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    ensemble: np.ndarray
    log_weights: np.ndarray | None
    stats: dict


def filtering(
    ssm, observations, method=None, *, ensemble_size=None, seed=None, threads=None, **method_params
):
    """Iterate over assimilation cycles, one :class:`Cycle` at a time.

    The same kernels and random streams as :func:`filter` (a seed gives the
    same numbers), but control returns to Python after every cycle, so a loop
    can stop early, inspect or plot the ensemble.  Not for the Kalman filter.

    Examples
    --------
    >>> from geobayes.filters import filtering, models
    >>> ssm = models.lorenz63()
    >>> x, y = ssm.simulate(5, seed=0)
    >>> [c.index for c in filtering(ssm, y, "etkf", ensemble_size=8, seed=1)]
    [0, 1, 2, 3, 4]
    """
    method = "etkf" if method is None else method
    if ensemble_size is not None:
        method_params = dict(method_params, ensemble_size=ensemble_size)
    front = get_method(method, **_applicable(method, method_params))
    if isinstance(front, KalmanFilter):
        raise TypeError(
            "filtering() iterates ensemble and particle filters; use filter() for the Kalman filter"
        )
    if not isinstance(ssm, StateSpaceModel):
        raise TypeError(f"ssm must be a StateSpaceModel, got {type(ssm).__name__}")
    y, observed = validate_observations(ssm, observations)
    n_threads = _choose_threads(front, ssm, threads)
    init_ss, run_ss = as_seed_sequence(seed).spawn(2)
    particle = isinstance(front, ParticleFilter)
    prepare = _prepare_particle if particle else _prepare_ensemble
    if isinstance(front, TransportFilter):
        prepare = _prepare_transport
    run, out, (E, lw) = prepare(front, ssm, y, observed, init_ss, run_ss, "moments")
    times = ssm.times(y.shape[0])
    for k in range(y.shape[0]):
        with _numba_threads(n_threads), single_threaded_blas():
            run(k, k + 1)
        stats = {}
        if particle:
            stats = {
                "ess": float(out["ess"][k]),
                "resampled": bool(out["resampled"][k]),
                "log_evidence_increment": float(out["lei"][k]),
            }
        yield Cycle(
            k,
            float(times[k]),
            out["pred_mean"][k].copy(),
            out["pred_sd"][k].copy(),
            out["filt_mean"][k].copy(),
            out["filt_sd"][k].copy(),
            E.copy(),
            None if lw is None else lw.copy(),
            stats,
        )
