"""Dual-averaging step-size adaptation (Nesterov 2009; Hoffman & Gelman 2014, Algorithm 5).

State array ``da`` (float64, length 12)::

    da[0] log step size now          da[1] log step size averaged (the final one)
    da[2] h_bar (running error)      da[3] mu (shrinkage target, log(10 * eps0))
    da[4] m (iteration count)        da[5] target acceptance delta
    da[6] gamma                      da[7] t0          da[8] kappa
    da[9] n (count of the average; equal to m unless only the average restarted)
    da[10] divergences counted by the warmup's divergence guard (``ADAPT_GUARD_COUNT``)
    da[11] 1 once the guard switched the chain to Stan's scheme, else 0

Update with acceptance statistic ``a``::

    m += 1;  h_bar = (1 - 1/(m + t0)) h_bar + (delta - a) / (m + t0)
    log_eps = mu - sqrt(m) / gamma * h_bar
    n += 1;  log_eps_bar = n^-kappa log_eps + (1 - n^-kappa) log_eps_bar

Defaults are Stan's: gamma = 0.05, t0 = 10, kappa = 0.75.  The default NUTS adaptation
sets kappa to 1 where its final step-size window starts (``ADAPT_UNIFORM_AVERAGE``), so
that the final step size is the plain mean of that window's log iterates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["DualAveraging", "da_init", "da_update", "da_restart", "da_restart_average", "DA_SIZE"]

DA_SIZE = 12  #: length of the dual-averaging state array


@njit(cache=True)
def da_restart(da, step_size):
    """Restart the averages around ``step_size`` (mu = log(10 step_size)), as Stan does
    after each metric window."""
    da[0] = math.log(step_size)
    da[1] = 0.0
    da[2] = 0.0
    da[3] = math.log(10.0 * step_size)
    da[4] = 0.0
    da[9] = 0.0


@njit(cache=True)
def da_restart_average(da):
    """Restart only the average ``log_eps_bar`` (the iterate runs on), so that the final
    step size averages only the iterates after this point (after a metric change)."""
    da[1] = 0.0
    da[9] = 0.0


@njit(cache=True)
def da_update(da, accept_stat):
    """One dual-averaging update; returns the new step size."""
    if math.isnan(accept_stat):
        accept_stat = 0.0
    da[4] += 1.0
    m = da[4]
    eta = 1.0 / (m + da[7])
    da[2] = (1.0 - eta) * da[2] + eta * (da[5] - accept_stat)
    da[0] = da[3] - math.sqrt(m) / da[6] * da[2]
    da[9] += 1.0
    x = da[9] ** (-da[8])
    da[1] = x * da[0] + (1.0 - x) * da[1]
    return math.exp(da[0])


def da_init(step_size: float, target: float, gamma=0.05, t0=10.0, kappa=0.75) -> np.ndarray:
    """A fresh dual-averaging state array for an initial ``step_size``."""
    da = np.zeros(DA_SIZE)
    da[5:9] = (target, gamma, t0, kappa)
    da_restart(da, step_size)
    return da


@dataclass(frozen=True)
class DualAveraging:
    """Settings of dual-averaging step-size adaptation.

    Parameters
    ----------
    target_accept : float
        Target mean acceptance probability, in (0, 1).
    gamma, t0, kappa : float
        Dual-averaging constants (Stan's defaults).
    """

    target_accept: float
    gamma: float = 0.05
    t0: float = 10.0
    kappa: float = 0.75

    def __post_init__(self):
        if not 0.0 < self.target_accept < 1.0:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept}")
        if not (self.gamma > 0 and self.t0 >= 0 and 0.5 < self.kappa <= 1.0):
            raise ValueError("dual averaging needs gamma > 0, t0 >= 0 and kappa in (0.5, 1]")

    def init(self, step_size: float) -> np.ndarray:
        """State array for an initial step size."""
        return da_init(step_size, self.target_accept, self.gamma, self.t0, self.kappa)
