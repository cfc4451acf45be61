r"""Metropolis-adjusted Langevin algorithm (MALA), optionally preconditioned.

With inverse mass (diagonal preconditioner) :math:`M^{-1}` and step size :math:`\epsilon`,

.. math::

    y = x + \tfrac{\epsilon^2}{2} M^{-1} \nabla \log\pi(x) + \epsilon M^{-1/2} z,
    \qquad z \sim N(0, I),

accepted with probability :math:`\min(1, \pi(y) q(x \mid y) / (\pi(x) q(y \mid x)))`
(Roberts & Tweedie 1996).  This is exactly one leapfrog step of HMC with momentum
:math:`M^{1/2} z`.  During warmup the step size is tuned by dual averaging towards
an acceptance rate of 0.57 (Roberts & Rosenthal 1998) and, by default, a diagonal
preconditioner is adapted in Stan's windows.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("gaussian", method="mala", draws=200, warmup=200, chains=2,
...                         seed=1, progress=False)
>>> trace.posterior["x"].shape
(2, 200, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import float64, int64, types

from geobayes._lazy import lazy_njit
from geobayes.samplers._chunk import STEP_SIG
from geobayes.samplers._integrators import (
    BAD_GRADIENT,
    DIVERGENT,
    drift,
    eval_status,
    metric_t_dot,
)
from geobayes.samplers.base import SamplerMethod
from geobayes.types import LPG

__all__ = ["MALA", "mala_step", "langevin_proposal"]


_PROPOSAL_SIG = types.Tuple((float64[::1], float64, float64[::1], float64))(
    float64[::1],  # x
    float64,  # lp
    float64[::1],  # g
    float64[::1],  # z
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64,  # step_size
    float64[::1],  # metric
)


@lazy_njit(_PROPOSAL_SIG, cache=True, nogil=True)
def langevin_proposal(x, lp, g, z, lpg, fdata, idata, step_size, metric):
    """The Langevin proposal from noise ``z``; returns ``(y, lp(y), grad(y), log_ratio)``.

    With ``M^-1 = S S^T`` (metric, see :mod:`geobayes.samplers._integrators`),
    ``h = step_size**2 / 2`` and ``w = S^T (g(x) + g(y))``, the proposal is
    ``y = x + S (h S^T g(x) + step_size z)`` and the log proposal ratio simplifies to
    ``log q(x|y) - log q(y|x) = -(h / 4) |w|^2 - (step_size / 2) z.w``
    (expand ``|S^-1 (x - y - h M^-1 g(y))|^2 / (4 h)``), which needs no inverse.
    ``log_ratio`` is ``-inf`` when the log density or gradient at ``y`` is not finite.
    """
    d = x.shape[0]
    h = 0.5 * step_size * step_size
    a = np.empty(d)
    metric_t_dot(metric, g, a)
    for i in range(d):
        a[i] = h * a[i] + step_size * z[i]
    y = x.copy()
    drift(y, metric, a, 1.0)
    lpy, gy = lpg(y, fdata, idata)
    if gy.shape[0] != d:  # a broken model: mala_step reports it (eval_status)
        return y, lpy, gy, -math.inf
    finite = math.isfinite(lpy)
    for i in range(d):
        if not math.isfinite(gy[i]):
            finite = False
    if not finite:
        return y, lpy, gy, -math.inf
    gs = g + gy
    w = np.empty(d)
    metric_t_dot(metric, gs, w)
    lq = 0.0
    for i in range(d):
        lq -= 0.25 * h * w[i] * w[i] + 0.5 * step_size * z[i] * w[i]
    return y, lpy, gy, lpy - lp + lq


@lazy_njit(STEP_SIG, cache=True, nogil=True)
def mala_step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
    """One MALA transition; ``params`` is unused.

    Draws ``z ~ N(0, I_d)`` then one uniform from ``rng``.  Statistics: acceptance
    probability, one gradient, ``diverging`` when the proposal's log density or gradient
    is not finite, energy NaN; extra column ``is_accepted``.
    """
    z = rng.standard_normal(x.shape[0])
    u = rng.random()
    y, lpy, gy, log_ratio = langevin_proposal(x, lp, g, z, lpg, fdata, idata, step_size, metric)
    stats[3] = 1.0
    stats[5] = math.nan
    if log_ratio == -math.inf:
        code = eval_status(y, lpy, gy)
        stats[4] = DIVERGENT if code == 0.0 else code
        if code == BAD_GRADIENT:
            return y, math.nan, g  # the offending point, for the driver's message
        return x, lp, g
    stats[2] = 1.0 if log_ratio >= 0.0 else math.exp(log_ratio)
    if math.log(u) < log_ratio:
        stats[6] = 1.0
        return y, lpy, gy
    return x, lp, g


@dataclass(frozen=True)
class MALA(SamplerMethod):
    """Metropolis-adjusted Langevin algorithm.

    Parameters
    ----------
    step_size : float, optional
        Initial step size; by default found by Stan's doubling/halving heuristic.
    target_accept : float
        Acceptance rate targeted by dual averaging during warmup (default 0.57).
    adapt_step_size : bool
        Tune the step size during warmup.
    adapt_mass_matrix : bool
        Also adapt a diagonal preconditioner in Stan's windows (default True: on eight
        schools it raises the bulk ESS of ``mu`` about tenfold).
    inv_mass : array of shape (dim,) or (dim, dim), optional
        Initial inverse mass matrix (default identity).
    metric : {"diag", "dense"}
        Diagonal (default) or dense preconditioner, adapted in Stan's windows.

    Examples
    --------
    >>> from geobayes.samplers import MALA
    >>> MALA(step_size=0.1)
    MALA(step_size=0.1, target_accept=0.57, adapt_step_size=True, adapt_mass_matrix=True)
    """

    target_accept: float = 0.57
    adapt_mass_matrix: bool = True

    name = "mala"
    extra_stat_names = ("is_accepted",)
    stat_names = ("lp", "acceptance_rate", "is_accepted", "step_size", "n_steps", "diverging")

    @property
    def step_fn(self):
        """The jitted step of type :data:`geobayes.samplers._chunk.STEP`."""
        return mala_step
