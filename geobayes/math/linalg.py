"""Small jitted linear algebra without LAPACK (usable in ``nogil`` kernels, no exceptions).

Examples
--------
>>> import numpy as np
>>> from geobayes.math.linalg import cholesky_into
>>> out = np.empty(4)
>>> bool(cholesky_into(np.array([[4.0, 2.0], [2.0, 2.0]]), out, 0)), out.tolist()
(True, [2.0, 0.0, 1.0, 1.0])
"""

from __future__ import annotations

import math

from numba import njit

__all__ = ["cholesky_into"]


@njit(cache=True, nogil=True)
def cholesky_into(a, out, offset):
    """Lower Cholesky factor of the ``d x d`` matrix ``a`` into ``out[offset:offset+d*d]``
    (row-major); returns False (leaving ``out`` partly written) if ``a`` is not positive
    definite."""
    d = a.shape[0]
    for i in range(d):
        for j in range(d):
            out[offset + i * d + j] = 0.0
    for j in range(d):
        s = a[j, j]
        for k in range(j):
            s -= out[offset + j * d + k] ** 2
        if not (s > 0.0) or not math.isfinite(s):
            return False
        ljj = math.sqrt(s)
        out[offset + j * d + j] = ljj
        for i in range(j + 1, d):
            t = a[i, j]
            for k in range(j):
                t -= out[offset + i * d + k] * out[offset + j * d + k]
            out[offset + i * d + j] = t / ljj
    return True
