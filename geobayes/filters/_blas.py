"""Keep OpenBLAS single-threaded while the filter kernels run.

The kernels call LAPACK/BLAS (through SciPy's Cython bindings) on small
matrices, e.g. one ``eigh`` of a 30 x 30 matrix per local analysis of the LETKF.
A multi-threaded OpenBLAS parallelises even these: measured here, ``eigh`` of
a 30 x 30 matrix took 530 us with OpenBLAS threads against 60 us without, and
inside Numba's parallel loops the two thread pools fight (a 40-fold slow-down
of the LETKF).  :class:`single_threaded_blas` sets every loaded OpenBLAS to one
thread for the duration of a filter run and restores the previous setting,
using the library's own ``*_set_num_threads`` entry point (as threadpoolctl
does).  Where the libraries cannot be found (non-Linux, other BLAS) it does
nothing.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["single_threaded_blas"]

_SUFFIXES = ("", "64_")
_PREFIXES = ("openblas", "scipy_openblas")
_CACHE: list | None = None


def _openblas_controls():
    """``(get, set)`` ctypes function pairs of every loaded OpenBLAS."""
    global _CACHE
    if _CACHE is not None:
        return _CACHE
    found = []
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line.lower()}
    except OSError:
        paths = set()
    for path in sorted(paths):
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                set_name = f"{prefix}_set_num_threads{suffix}"
                get_name = f"{prefix}_get_num_threads{suffix}"
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    getter, setter = getattr(lib, get_name), getattr(lib, set_name)
                    getter.restype = ctypes.c_int
                    setter.argtypes = [ctypes.c_int]
                    found.append((getter, setter))
    _CACHE = found
    return found


class single_threaded_blas:
    """Context manager: OpenBLAS uses one thread inside, its old setting after."""

    def __enter__(self):
        self._saved = []
        for getter, setter in _openblas_controls():
            try:
                self._saved.append((setter, int(getter())))
                setter(1)
            except Exception:  # pragma: no cover - defensive: never fail a run over this
                continue
        return self

    def __exit__(self, *exc):
        for setter, n in self._saved:
            try:
                setter(n)
            except Exception:  # pragma: no cover
                pass
        return False
