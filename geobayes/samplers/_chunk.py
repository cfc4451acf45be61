"""The jitted chunk runner shared by every single-chain MCMC method.

A method supplies one *step* function of the fixed type :data:`STEP`::

    step(x, lp, g, z, u_accept, u_jitter, lpg, fdata, idata, step_size, scale, params)
        -> (x, lp, g, accept_prob, is_accepted, n_grad, energy, diverging)

``scale`` is the diagonal metric as standard deviations: ``scale**2`` is the inverse
mass matrix (steps then need no square roots or divisions per coordinate).
``z`` (standard normals, shape ``(dim,)``) and the two uniforms are drawn by the
runner, so a step is a pure function of its inputs (easy to test against a NumPy
twin) and every method consumes the same random stream layout.  ``params`` holds the
method's own hyperparameters as a float64 vector.

:func:`run_chunk` loops ``n`` steps for one chain: draws the noise, calls the step,
applies warmup adaptation according to per-iteration flags (dual-averaging step size,
Welford statistics and window ends for a diagonal metric) and writes positions and
sample statistics into preallocated arrays.  Because both the step and the model
enter as typed first-class functions, this one compiled kernel (cached on disk)
serves every method and every model.  It releases the GIL, so chains run in threads.
"""

from __future__ import annotations

import math

from numba import boolean, float64, int64, njit, types

from geobayes.adaptation.mass_matrix import (
    ADAPT_ACCUMULATE,
    ADAPT_STEP,
    ADAPT_WINDOW_END,
    welford_update,
    welford_variance,
)
from geobayes.adaptation.step_size import da_restart, da_update
from geobayes.types import GENERATOR, LPG

__all__ = ["STEP", "STEP_SIG", "run_chunk", "STAT_NAMES", "N_STATS"]

STEP_SIG = types.Tuple(
    (float64[::1], float64, float64[::1], float64, boolean, int64, float64, boolean)
)(
    float64[::1],  # x
    float64,  # lp
    float64[::1],  # g
    float64[::1],  # z
    float64,  # u_accept
    float64,  # u_jitter
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64,  # step_size
    float64[::1],  # scale = sqrt(inverse mass)
    float64[::1],  # params
)
#: First-class function type of a method's step.
STEP = types.FunctionType(STEP_SIG)

#: Columns of the statistics array written by :func:`run_chunk`.
STAT_NAMES = (
    "lp",
    "acceptance_rate",
    "is_accepted",
    "step_size",
    "n_steps",
    "energy",
    "diverging",
)
N_STATS = len(STAT_NAMES)

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
    float64[::1],  # scale = sqrt(inverse mass) (in/out)
    float64[::1],  # welford state (in/out)
    float64[::1],  # method params
    int64[::1],  # per-iteration adaptation flags (length n)
    float64[:, ::1],  # out positions (n, dim)
    float64[:, ::1],  # out stats (n, N_STATS)
)


@njit(_CHUNK_SIG, cache=True, nogil=True)
def run_chunk(
    rng, step, lpg, fdata, idata, x, g, scal, da, scale, welford, params, flags, out_x, out_s
):
    """Run ``len(flags)`` steps of one chain; returns the number of divergences.

    ``x``, ``g`` and ``scal = [lp, step_size]`` hold the chain's state on entry and are
    overwritten with the state after the last step, so the next chunk continues from it.
    """
    n = flags.shape[0]
    d = x.shape[0]
    xc = x.copy()
    gc = g.copy()
    lp = scal[0]
    eps = scal[1]
    n_div = 0
    for i in range(n):
        z = rng.standard_normal(d)
        u1 = rng.random()
        u2 = rng.random()
        eps_used = eps
        xc, lp, gc, acc, is_acc, n_grad, energy, div = step(
            xc, lp, gc, z, u1, u2, lpg, fdata, idata, eps, scale, params
        )
        f = flags[i]
        if f & ADAPT_STEP:
            eps = da_update(da, acc)
        if f & ADAPT_ACCUMULATE:
            welford_update(welford, xc)
        if f & ADAPT_WINDOW_END:
            welford_variance(welford, scale)  # writes the variance = inverse mass ...
            for k in range(d):
                scale[k] = math.sqrt(scale[k])  # ... stored as its square root
            da_restart(da, eps)
        out_x[i, :] = xc
        out_s[i, 0] = lp
        out_s[i, 1] = acc
        out_s[i, 2] = 1.0 if is_acc else 0.0
        out_s[i, 3] = eps_used
        out_s[i, 4] = n_grad
        out_s[i, 5] = energy
        out_s[i, 6] = 1.0 if div else 0.0
        if div:
            n_div += 1
    x[:] = xc
    g[:] = gc
    scal[0] = lp
    scal[1] = eps
    return n_div
