"""Kernels compiled on first use instead of at import.

A kernel declared with an eager signature compiles when its module is
imported: for the filter kernels (several ``parallel=True`` loops) that is
about 50 s on a cold cache, paid by anything that imports
``geobayes.filters`` -- even ``geobayes --help``.  :func:`lazy_njit` keeps the
same explicit signature (one compiled kernel for every model, cached on disk)
but compiles, or loads from the cache, at the first call.  The dispatcher is
available as ``kernel.dispatcher`` (for ``signatures`` and ``stats``).
"""

from __future__ import annotations

import functools

from numba import njit

__all__ = ["lazy_njit"]


class _LazyKernel:
    def __init__(self, py_func, signature, options):
        self.py_func = py_func
        self.signature = signature
        self.options = options
        self._dispatcher = None
        functools.update_wrapper(self, py_func)

    @property
    def dispatcher(self):
        """The Numba dispatcher (compiled or loaded from the cache on first access)."""
        if self._dispatcher is None:
            self._dispatcher = njit(self.signature, **self.options)(self.py_func)
        return self._dispatcher

    def __call__(self, *args):
        return self.dispatcher(*args)


def lazy_njit(signature, **options):
    """Like ``numba.njit(signature, **options)``, compiling at the first call."""

    def wrap(py_func):
        return _LazyKernel(py_func, signature, options)

    return wrap
