"""Helpers shared by the filter tests."""

from __future__ import annotations

import numpy as np


def random_ensemble(rng, N, d, m):
    """A small random ensemble, its observed values and an observation."""
    E = rng.standard_normal((N, d)) + rng.standard_normal(d)
    H = rng.standard_normal((m, d))
    Eo = np.ascontiguousarray(E @ H.T + 0.1 * rng.standard_normal((N, m)))
    y = rng.standard_normal(m)
    L = rng.standard_normal((m, m)) * 0.3
    R = L @ L.T + np.eye(m)
    return np.ascontiguousarray(E), Eo, y, np.ascontiguousarray(R)
