"""Numba types and aliases shared by every kernel.

The model function type
-----------------------
Every kernel takes the model as a *typed first-class function* of type
:data:`LPG`::

    logdensity_and_grad(theta, fdata, idata) -> (logdensity, gradient)

with ``theta`` a C-contiguous float64 vector, ``fdata`` a C-contiguous
float64 vector of data and ``idata`` a C-contiguous int64 vector of data
(either may be empty).  Declaring the type once and compiling kernels with
eager signatures that take an ``LPG`` argument means one compiled (and
disk-cached) kernel serves every model: a plain dispatcher argument would
make Numba recompile each kernel for every model and never hit its cache
(numba issues #9237 and #2956).  Data travels through ``fdata``/``idata``
instead of being frozen into closures, so large data sets cost no
compilation either.
"""

from __future__ import annotations

import numpy as np
from numba import float64, int64, types

__all__ = [
    "LPG",
    "LPG_SIG",
    "POINTWISE",
    "POINTWISE_SIG",
    "GENERATOR",
    "Float64Array",
    "Int64Array",
]

type Float64Array = np.ndarray
type Int64Array = np.ndarray

#: Signature of a model's ``logdensity_and_grad(theta, fdata, idata)``.
LPG_SIG = types.Tuple((float64, float64[::1]))(float64[::1], float64[::1], int64[::1])
#: First-class function type of a model's ``logdensity_and_grad``.
LPG = types.FunctionType(LPG_SIG)
#: Numba type of a ``numpy.random.Generator`` argument.
GENERATOR = types.NumPyRandomGeneratorType("NumPyRandomGeneratorType")
#: Signature of a model's ``pointwise_loglik(theta, fdata, idata) -> float64[::1]``.
POINTWISE_SIG = float64[::1](float64[::1], float64[::1], int64[::1])
#: First-class function type of a model's pointwise log-likelihood.
POINTWISE = types.FunctionType(POINTWISE_SIG)
