"""The jitted chunk runner shared by every single-chain MCMC method (the STEP contract).

The step contract
-----------------
A method supplies one *step* function of the fixed first-class type :data:`STEP`::

    step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats) -> (x, lp, g)

* ``rng`` -- the chain's ``numpy.random.Generator`` (Numba type
  :data:`geobayes.types.GENERATOR`).  The step draws whatever it needs from it (HMC:
  ``d`` normals then two uniforms; MALA: ``d`` normals then one uniform; NUTS: a
  direction and multinomial choices per tree doubling).  Every chain owns its generator
  and the runner draws nothing itself, so a trace depends only on the seed, never on the
  thread count or on chunk boundaries.
* ``x, lp, g`` -- current position, log density and gradient.  The step must not modify
  them in place (it may return them unchanged, e.g. on rejection); it returns the new
  state.
* ``lpg, fdata, idata`` -- the model (:data:`geobayes.types.LPG`) and its data.
* ``step_size`` -- the integrator step size (adapted by the runner during warmup).
* ``metric`` -- float64 vector, see :mod:`geobayes.samplers._integrators`: length ``d``
  is a diagonal metric ``sqrt(diag(M^-1))``; length ``d + d*d`` a dense one
  (``[sqrt(diag(M^-1)), L row-major]`` with ``M^-1 = L L^T``, Stan's ``dense_e``).
  The runner adapts both kinds.
* ``params`` -- the method's hyperparameters as a float64 vector
  (:meth:`SamplerMethod.params_array`).
* ``stats`` -- this iteration's row of the statistics array, float64, zeroed by the
  runner, width ``N_BASE_STATS + len(method.extra_stat_names)``.  Columns:

  ====  ===================  =================================================
  0     ``lp``               written by the runner (log density after the step)
  1     ``step_size``        written by the runner (step size used)
  2     ``acceptance_rate``  written by the step; dual averaging reads it
  3     ``n_steps``          written by the step: gradient evaluations
  4     ``diverging``        written by the step: 0, or why the transition was
                             rejected (``_integrators``: 1 divergence or -inf, 2 a
                             NaN/+inf log density, 3 a gradient of the wrong length,
                             which stops the run); the trace keeps ``!= 0``
  5     ``energy``           written by the step (NaN when meaningless)
  6...  method-specific      ``method.extra_stat_names``, written by the step
  ====  ===================  =================================================

  ``method.stat_names`` selects (by name, ArviZ vocabulary) which columns reach
  ``sample_stats``.

The runner
----------
:func:`run_chunk` loops ``n`` steps for one chain: calls the step, applies warmup
adaptation according to per-iteration flags (dual-averaging step size when
``ADAPT_STEP``; Welford statistics of positions and, at window ends, a new diagonal or
dense metric -- Stan's windowed scheme; the divergence guard of the default NUTS
adaptation counts divergences in ``da[10]`` and switches a chain to Stan's scheme by
setting ``da[11]``, see :func:`geobayes.adaptation.warmup_schedule`) and writes
positions and statistics into
preallocated arrays.  Because the step and the model enter as typed first-class
functions, this one compiled kernel (cached on disk) serves every method and every
model.  It releases the GIL, so chains run in threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, int64, njit, types

from geobayes._lazy import lazy_njit
from geobayes.adaptation.mass_matrix import (
    ADAPT_ACCUMULATE,
    ADAPT_FALLBACK_ONLY,
    ADAPT_FREEZE,
    ADAPT_GRAD,
    ADAPT_GUARD_COUNT,
    ADAPT_GUARD_DECIDE,
    ADAPT_RESTART,
    ADAPT_RESTART_AVERAGE,
    ADAPT_SEARCH,
    ADAPT_STEP,
    ADAPT_SYM,
    ADAPT_UNIFORM_AVERAGE,
    ADAPT_WINDOW_END,
    GUARD_DIVERGENCES,
    welford_cov_update,
    welford_covariance,
    welford_grad_metric,
    welford_grad_metric_keep,
    welford_grad_update,
    welford_update,
    welford_variance,
)
from geobayes.adaptation.step_size import da_restart, da_restart_average, da_update
from geobayes.samplers._integrators import BAD_GRADIENT, drift, kick
from geobayes.types import GENERATOR, LPG

__all__ = ["STEP", "STEP_SIG", "run_chunk", "BASE_STAT_NAMES", "N_BASE_STATS", "welford_size"]

STEP_SIG = types.Tuple((float64[::1], float64, float64[::1]))(
    GENERATOR,  # rng
    float64[::1],  # x
    float64,  # lp
    float64[::1],  # g
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64,  # step_size
    float64[::1],  # metric
    float64[::1],  # params
    float64[::1],  # stats row (out)
)
#: First-class function type of a method's step.
STEP = types.FunctionType(STEP_SIG)

#: Fixed leading columns of every statistics row.
BASE_STAT_NAMES = ("lp", "step_size", "acceptance_rate", "n_steps", "diverging", "energy")
N_BASE_STATS = len(BASE_STAT_NAMES)

_CHUNK_SIG = int64(
    GENERATOR,
    STEP,
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64[::1],  # x (in/out)
    float64[::1],  # g (in/out)
    float64[::1],  # scalars (in/out): [lp, step_size]
    float64[::1],  # dual averaging state (in/out)
    float64[::1],  # metric (in/out)
    float64[::1],  # welford state (in/out)
    float64[::1],  # method params
    int64[::1],  # per-iteration adaptation flags (length n)
    float64[:, ::1],  # out positions (n, dim)
    float64[:, ::1],  # out stats (n, N_BASE_STATS + n_extra)
)


def welford_size(dim: int, dense: bool, grad: bool = False) -> int:
    """Length of the Welford state array the runner needs for a metric kind (``grad``:
    the diagonal metric from draws and gradients, which also accumulates gradients)."""
    if grad:
        return 1 + 4 * dim
    return 1 + dim + (dim * dim if dense else dim)


_SEARCH_START = 0.1  #: first trial of :func:`search_step_size` (nutpie's initial step)


@njit(cache=True, nogil=True)
def _one_step_accept(x, lp, g, v, lpg, fdata, idata, eps, metric, y, w):
    """Metropolis acceptance ``min(1, exp(-dH))`` of one leapfrog step of size ``eps``
    from ``(x, v)``; 0 when the log density or gradient there is not finite."""
    d = x.shape[0]
    kin0 = 0.0
    for i in range(d):
        w[i] = v[i]
        y[i] = x[i]
        kin0 += v[i] * v[i]
    kick(w, metric, g, 0.5 * eps)
    drift(y, metric, w, eps)
    lpy, gy = lpg(y, fdata, idata)
    if gy.shape[0] != d or not math.isfinite(lpy):
        return 0.0
    for i in range(d):
        if not math.isfinite(gy[i]):
            return 0.0
    kick(w, metric, gy, 0.5 * eps)
    kin1 = 0.0
    for i in range(d):
        kin1 += w[i] * w[i]
    dh = (0.5 * kin1 - lpy) - (0.5 * kin0 - lp)
    if math.isnan(dh):
        return 0.0
    return 1.0 if dh <= 0.0 else math.exp(-dh)


@njit(cache=True, nogil=True)
def search_step_size(rng, x, lp, g, lpg, fdata, idata, metric, target, row):
    """nutpie's step-size search after its first metric change: from 0.1, double (or
    halve) the step of one leapfrog from ``x`` with one fresh momentum until its
    acceptance crosses ``target``; returns the first step past the crossing (the last
    finite one when doubling meets a non-finite point).  Draws ``d`` normals from
    ``rng``; the gradients it evaluates are added to ``row[3]`` (``n_steps``)."""
    d = x.shape[0]
    v = rng.standard_normal(d)
    y = np.empty(d)
    w = np.empty(d)
    eps = _SEARCH_START
    a = _one_step_accept(x, lp, g, v, lpg, fdata, idata, eps, metric, y, w)
    row[3] += 1.0
    up = a > target
    for _ in range(100):
        if up:
            if a <= target or eps > 1e5:
                if a == 0.0:
                    eps *= 0.5
                break
            eps *= 2.0
        else:
            if a >= target or eps < 1e-10:
                break
            eps *= 0.5
        a = _one_step_accept(x, lp, g, v, lpg, fdata, idata, eps, metric, y, w)
        row[3] += 1.0
    return eps


@lazy_njit(_CHUNK_SIG, cache=True, nogil=True)
def run_chunk(
    rng, step, lpg, fdata, idata, x, g, scal, da, metric, welford, params, flags, out_x, out_s
):
    """Run ``len(flags)`` steps of one chain; returns the number of divergences.

    A step that met a gradient of the wrong length (status ``BAD_GRADIENT`` in column 4)
    stops the chunk: the offending point is written to ``x`` and ``-(i + 1)`` returned
    for iteration ``i`` (the driver raises an error naming the point).

    ``x``, ``g`` and ``scal = [lp, step_size]`` hold the chain's state on entry and are
    overwritten with the state after the last step, so the next chunk continues from it.
    """
    n = flags.shape[0]
    d = x.shape[0]
    dense = metric.shape[0] != d
    xc = x.copy()
    gc = g.copy()
    lp = scal[0]
    eps = scal[1]
    n_div = 0
    for i in range(n):
        row = out_s[i]
        row[:] = 0.0
        eps_used = eps
        xc, lp, gc = step(rng, xc, lp, gc, lpg, fdata, idata, eps, metric, params, row)
        row[0] = lp
        row[1] = eps_used
        f = flags[i]
        if f & ADAPT_STEP:
            if f & ADAPT_SYM and da[11] == 0.0:  # nutpie's symmetric statistic, late on
                eps = da_update(da, row[row.shape[0] - 1])
            else:
                eps = da_update(da, row[2])
        if f & ADAPT_GUARD_COUNT and row[4] != 0.0:
            da[10] += 1.0
        if f & ADAPT_GUARD_DECIDE and da[10] >= GUARD_DIVERGENCES:
            da[11] = 1.0  # this chain continues its warmup with Stan's scheme
        stan = da[11] != 0.0
        if f & ADAPT_ACCUMULATE:
            if f & ADAPT_GRAD:
                welford_grad_update(welford, xc, gc)
            elif dense:
                welford_cov_update(welford, xc)
            else:
                welford_update(welford, xc)
        # a chain that froze its metric (ADAPT_FREEZE) and was not switched skips the
        # last window end, so its final step size averages the whole final window
        frozen = f & ADAPT_FALLBACK_ONLY and not stan
        if f & ADAPT_WINDOW_END and not frozen:
            if f & ADAPT_GRAD and not stan:
                welford_grad_metric(welford, metric)
            elif dense:
                welford_covariance(welford, metric)
            else:
                welford_variance(welford, metric)  # writes the variance = inverse mass ...
                for k in range(d):
                    metric[k] = math.sqrt(metric[k])  # ... stored as its square root
        if f & ADAPT_RESTART or (stan and f & ADAPT_RESTART_AVERAGE):
            da_restart(da, eps)
        elif f & ADAPT_RESTART_AVERAGE and not frozen:
            da_restart_average(da)
        if f & ADAPT_FREEZE and not stan:  # the window runs on for a later switch
            welford_grad_metric_keep(welford, metric)
        if f & ADAPT_UNIFORM_AVERAGE and not stan:
            da[8] = 1.0  # kappa = 1: the average weighs every later iterate alike
        if f & ADAPT_SEARCH and not stan:  # nutpie: a new step size for the new metric
            eps = search_step_size(rng, xc, lp, gc, lpg, fdata, idata, metric, da[5], row)
            da_restart(da, eps)
        if row[4] == BAD_GRADIENT:  # the model is broken: stop, hand back the point
            x[:] = xc
            return -(i + 1)
        out_x[i, :] = xc
        if row[4] != 0.0:
            n_div += 1
    x[:] = xc
    g[:] = gc
    scal[0] = lp
    scal[1] = eps
    return n_div
