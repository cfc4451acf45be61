"""Seed handling: one independent ``numpy.random.Generator`` per chain.

``seed`` may be an ``int``, a :class:`numpy.random.SeedSequence` or ``None``
(fresh entropy, recorded in the trace so the run can be repeated).  Chains
get ``SeedSequence(seed).spawn(chains)`` children, so chain ``c``'s stream
depends only on ``(seed, c)``, not on the number of threads.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_seed_sequence", "chain_generators", "seed_entropy"]


def as_seed_sequence(seed) -> np.random.SeedSequence:
    """Return a ``SeedSequence`` for ``seed`` (int, SeedSequence or None)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be an int, a numpy.random.SeedSequence or None, got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence(int(seed))


def seed_entropy(seed) -> int:
    """The integer entropy of a seed (what to record to repeat the run)."""
    return int(as_seed_sequence(seed).entropy)


def chain_generators(seed, n: int) -> list[np.random.Generator]:
    """``n`` independent generators spawned from ``seed``."""
    ss = as_seed_sequence(seed)
    return [np.random.default_rng(child) for child in ss.spawn(n)]
