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
from numba import njit

from geobayes.samplers._chunk import STEP_SIG
from geobayes.samplers.base import SamplerMethod

__all__ = ["MALA", "mala_step"]


@njit(STEP_SIG, cache=True, nogil=True)
def mala_step(x, lp, g, z, u_accept, u_jitter, lpg, fdata, idata, step_size, scale, params):
    """One MALA transition with metric ``scale**2``; ``params`` is unused.

    With ``m = scale**2`` and ``h = step_size**2 / 2`` the proposal is
    ``y = x + h m g(x) + step_size scale z`` and the log proposal ratio simplifies to
    ``log q(x|y) - log q(y|x) = -sum((h m / 4) (g + g_y)^2 + (step_size / 2) scale z (g + g_y))``
    (expand ``|x - y - h m g_y|^2 / (4 h m)`` with ``y - x`` above), which needs no
    division or square root per coordinate.
    """
    d = x.shape[0]
    h = 0.5 * step_size * step_size
    y = np.empty(d)
    for i in range(d):
        s = scale[i]
        y[i] = x[i] + h * s * s * g[i] + step_size * s * z[i]
    lpy, gy = lpg(y, fdata, idata)
    finite = math.isfinite(lpy)
    for i in range(d):
        if not math.isfinite(gy[i]):
            finite = False
    if not finite:
        return x, lp, g, 0.0, False, 1, math.nan, True
    lq = 0.0
    half_eps = 0.5 * step_size
    quarter_h = 0.25 * h
    for i in range(d):
        s = scale[i]
        gs = g[i] + gy[i]
        lq -= quarter_h * s * s * gs * gs + half_eps * s * z[i] * gs
    log_ratio = lpy - lp + lq
    acc = 1.0 if log_ratio >= 0.0 else math.exp(log_ratio)
    if math.log(u_accept) < log_ratio:
        return y, lpy, gy, acc, True, 1, math.nan, False
    return x, lp, g, acc, False, 1, math.nan, False


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
    inv_mass : array of shape (dim,), optional
        Initial diagonal inverse mass matrix (default identity).

    Examples
    --------
    >>> from geobayes.samplers import MALA
    >>> MALA(step_size=0.1)
    MALA(step_size=0.1, target_accept=0.57, adapt_step_size=True, adapt_mass_matrix=True)
    """

    target_accept: float = 0.57
    adapt_mass_matrix: bool = True

    name = "mala"
    stat_names = ("lp", "acceptance_rate", "is_accepted", "step_size", "n_steps", "diverging")

    @property
    def step_fn(self):
        """The jitted step of type :data:`geobayes.samplers._chunk.STEP`."""
        return mala_step
