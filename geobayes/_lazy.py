"""Kernels compiled (or loaded from Numba's disk cache) on first use instead of at import.

A kernel declared with an eager signature, ``@njit(SIG, cache=True)``, is compiled or
loaded from the cache when its module is imported: every such kernel of the package then
costs its load time (tens of milliseconds each, seconds for them all, far more on a cold
cache) on ``import geobayes``, whatever the user goes on to run.  :func:`lazy_njit` keeps
the same explicit signature -- so still one compiled, disk-cached kernel for every model
-- but compiles or loads it when it is first needed: at the first call, the first time it
is passed to a jitted function (as a first-class function value, e.g. a ``STEP``), or the
first time jitted code that names it as a global is compiled.

The Numba dispatcher is ``kernel.dispatcher``; other attributes (``signatures``,
``stats``, ``overloads``, ``py_func`` ...) are forwarded to it, so a lazy kernel can be
used wherever the dispatcher was.

Examples
--------
>>> from numba import float64
>>> from geobayes._lazy import lazy_njit
>>> @lazy_njit(float64(float64))
... def square(x):
...     return x * x
>>> square._dispatcher is None  # nothing compiled yet
True
>>> square(3.0), len(square.signatures)
(9.0, 1)
"""

from __future__ import annotations

import functools
import threading

from numba import njit, types
from numba.extending import typeof_impl

__all__ = ["lazy_njit", "LazyKernel"]


class LazyKernel:
    """A jitted kernel with an eager signature, compiled on first use (see the module)."""

    def __init__(self, py_func, signature, options):
        self.py_func = py_func
        self.signature = signature
        self.options = options
        self._dispatcher = None
        self._lock = threading.RLock()  # chains run in threads: build one dispatcher only
        functools.update_wrapper(self, py_func)

    @property
    def dispatcher(self):
        """The Numba dispatcher (compiled or loaded from the cache on first access)."""
        if self._dispatcher is None:
            with self._lock:
                if self._dispatcher is None:
                    self._dispatcher = njit(self.signature, **self.options)(self.py_func)
        return self._dispatcher

    def __call__(self, *args):
        return self.dispatcher(*args)

    def __wrapper_address__(self):
        # Numba's protocol for passing an object as a first-class function value
        # (numba.experimental.function_type._get_wrapper_address)
        d = self.dispatcher
        cres = d.overloads[d.signatures[0]]
        return cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)

    def __getattr__(self, name):
        if name.startswith("__") or name in (
            "py_func",
            "signature",
            "options",
            "_dispatcher",
            "_lock",
        ):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __repr__(self) -> str:
        state = "compiled" if self._dispatcher is not None else "not compiled yet"
        return f"<lazy kernel {self.py_func.__qualname__} ({state})>"


@typeof_impl.register(LazyKernel)
def _typeof_lazy_kernel(val, c):
    # jitted code sees the dispatcher itself (a global reference or an argument)
    return types.Dispatcher(val.dispatcher)


def lazy_njit(signature, **options):
    """Like ``numba.njit(signature, **options)``, compiling (or loading) at first use."""

    def wrap(py_func):
        return LazyKernel(py_func, signature, options)

    return wrap
