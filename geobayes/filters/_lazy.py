"""Kernels compiled on first use instead of at import: see :mod:`geobayes._lazy`.

A kernel declared with an eager signature compiles when its module is imported: for the
filter kernels (several ``parallel=True`` loops) that is about 50 s on a cold cache.
:func:`lazy_njit` keeps the same explicit signature (one compiled kernel for every model,
cached on disk) but compiles, or loads from the cache, at first use.
"""

from __future__ import annotations

from geobayes._lazy import LazyKernel, lazy_njit

__all__ = ["lazy_njit", "LazyKernel"]
