r"""Hamiltonian Monte Carlo with a diagonal metric and a jittered trajectory length.

Momentum :math:`p = M^{1/2} z`; Hamiltonian :math:`H = -\log\pi(x) + \tfrac12 p^T M^{-1} p`;
``L`` leapfrog steps of size :math:`\epsilon`; accept with probability
:math:`\min(1, e^{H_0 - H_L})` (Duane et al. 1987; Neal 2011).  The number of steps is
``L = max(1, round((T / eps) * (0.5 + u)))`` with ``u ~ U(0, 1)``, i.e. the integration
time ``T`` jittered uniformly in ``[T/2, 3T/2]`` to avoid periodic orbits, capped at
``max_leapfrog``.  A transition whose energy error exceeds 1000 or becomes non-finite is
rejected and flagged ``diverging`` (Stan's threshold).  Warmup follows Stan: dual-averaging
step size (target 0.8) and windowed diagonal metric adaptation.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("eight_schools", method="hmc", draws=200, warmup=300,
...                         chains=2, seed=1, progress=False)
>>> sorted(trace.posterior.data_vars)
['mu', 'tau', 'theta', 'theta_trans']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from geobayes._lazy import lazy_njit
from geobayes.samplers._chunk import STEP_SIG
from geobayes.samplers._integrators import (
    BAD_GRADIENT,
    DIVERGENT,
    eval_status,
    kick,
    kick_drift,
)
from geobayes.samplers.base import SamplerMethod

__all__ = ["HMC", "hmc_step"]

_DIVERGENCE = 1000.0  # Stan's max energy error before a transition counts as divergent


@njit(cache=True, inline="always")
def _sum_sq(v):
    s = 0.0
    for i in range(v.shape[0]):
        s += v[i] * v[i]
    return s


@lazy_njit(STEP_SIG, cache=True, nogil=True)
def hmc_step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
    """One HMC transition; ``params = [integration_time, max_leapfrog]``.

    Draws ``z ~ N(0, I_d)``, then ``u_accept``, then ``u_jitter`` from ``rng``.  Works
    with the whitened momentum ``v = S^T p`` (so ``v = z`` and the kinetic energy is
    ``|v|^2 / 2``), see :mod:`geobayes.samplers._integrators`.  Extra statistics
    column: ``is_accepted``.
    """
    d = x.shape[0]
    # one allocation per transition holds the momentum and the proposal; the momentum is
    # filled by scalar draws, the same numbers in the same order as rng.standard_normal(d)
    buf = np.empty(2 * d)
    v = buf[:d]
    xn = buf[d:]
    for i in range(d):
        v[i] = rng.standard_normal()
    for i in range(d):
        xn[i] = x[i]
    u_accept = rng.random()
    u_jitter = rng.random()
    n_leap = int(round(params[0] / step_size * (0.5 + u_jitter)))
    n_leap = max(1, min(n_leap, int(params[1])))
    h0 = -lp + 0.5 * _sum_sq(v)
    gn = g
    lpn = lp
    half = 0.5 * step_size
    kick_drift(v, xn, metric, gn, half, step_size)  # half kick, drift
    code = 0.0
    n_grad = 0
    for step in range(n_leap):
        lpn, gn = lpg(xn, fdata, idata)
        n_grad += 1
        code = eval_status(xn, lpn, gn)
        if code != 0.0:
            break
        if not math.isfinite(lpn):
            code = DIVERGENT
            break
        if step < n_leap - 1:
            kick_drift(v, xn, metric, gn, step_size, step_size)  # full kick, drift
        else:
            kick(v, metric, gn, half)
    h1 = math.inf
    if code == 0.0:
        h1 = -lpn + 0.5 * _sum_sq(v)
        if not math.isfinite(h1) or h1 - h0 > _DIVERGENCE:
            code = DIVERGENT
    stats[3] = n_grad
    if code != 0.0:
        stats[2] = 0.0
        stats[4] = code
        stats[5] = h0
        if code == BAD_GRADIENT:
            return xn, math.nan, g  # the offending point, for the driver's message
        return x, lp, g
    log_ratio = h0 - h1
    stats[2] = 1.0 if log_ratio >= 0.0 else math.exp(log_ratio)
    if math.log(u_accept) < log_ratio:
        stats[5] = h1
        stats[6] = 1.0
        return xn, lpn, gn
    stats[5] = h0
    return x, lp, g


@dataclass(frozen=True)
class HMC(SamplerMethod):
    """Hamiltonian Monte Carlo (static, jittered integration time).

    Parameters
    ----------
    step_size : float, optional
        Initial leapfrog step size; by default Stan's doubling/halving heuristic.
    integration_time : float
        Mean trajectory length ``L * step_size`` in units of the (adapted) metric.
    max_leapfrog : int
        Cap on leapfrog steps per transition.
    target_accept : float
        Acceptance rate targeted by dual averaging (Stan's default 0.8).
    adapt_step_size, adapt_mass_matrix : bool
        Warmup adaptation switches (both on by default, as in Stan).
    inv_mass : array of shape (dim,) or (dim, dim), optional
        Initial inverse mass matrix (default identity).
    metric : {"diag", "dense"}
        Diagonal (default) or dense metric, adapted in Stan's windows.

    Examples
    --------
    >>> from geobayes.samplers import HMC
    >>> HMC(integration_time=1.5).integration_time
    1.5
    """

    target_accept: float = 0.8
    adapt_mass_matrix: bool = True
    integration_time: float = 2.0
    max_leapfrog: int = 1024

    name = "hmc"
    extra_stat_names = ("is_accepted",)
    stat_names = (
        "lp",
        "acceptance_rate",
        "is_accepted",
        "step_size",
        "n_steps",
        "energy",
        "diverging",
    )

    def __post_init__(self):
        super().__post_init__()
        if not (isinstance(self.integration_time, (int, float)) and self.integration_time > 0):
            raise ValueError(
                f"integration_time must be a positive number, got {self.integration_time!r}"
            )
        if not (isinstance(self.max_leapfrog, (int, np.integer)) and self.max_leapfrog >= 1):
            raise ValueError(f"max_leapfrog must be an integer >= 1, got {self.max_leapfrog!r}")

    @property
    def step_fn(self):
        """The jitted step of type :data:`geobayes.samplers._chunk.STEP`."""
        return hmc_step

    def params_array(self) -> np.ndarray:
        """``[integration_time, max_leapfrog]`` for the step."""
        return np.array([float(self.integration_time), float(self.max_leapfrog)])
