"""Max-shifted log-sum-exp and normalized log-weights."""

from __future__ import annotations

import math

from numba import njit

__all__ = ["logsumexp", "normalize_log_weights"]


@njit(cache=True)
def logsumexp(a):
    """``log(sum(exp(a)))`` with the max shift; ``-inf`` for an empty or all ``-inf`` input."""
    m = -math.inf
    for v in a:
        if v > m:
            m = v
    if m == -math.inf or math.isnan(m):
        return m
    s = 0.0
    for v in a:
        s += math.exp(v - m)
    return m + math.log(s)


@njit(cache=True)
def normalize_log_weights(log_weights):
    """Log-weights shifted so that ``sum(exp(.)) == 1``."""
    return log_weights - logsumexp(log_weights)
