"""Max-shifted log-sum-exp and normalized log-weights (shared by particle methods)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["logsumexp", "normalize_log_weights"]


@njit(cache=True)
def logsumexp(a):
    """``log(sum(exp(a)))`` without overflow; ``-inf`` for an empty or all ``-inf`` input."""
    amax = -np.inf
    for v in a:
        if v > amax:
            amax = v
    if not math.isfinite(amax):
        return amax
    acc = 0.0
    for v in a:
        acc += math.exp(v - amax)
    return amax + math.log(acc)


@njit(cache=True)
def normalize_log_weights(log_weights):
    """Return ``(normalised log weights, logsumexp of the input)``."""
    lse = logsumexp(log_weights)
    return log_weights - lse, lse
