r"""Principal branch :math:`W_0` of the Lambert W function, jitted.

The robust HGF volatility update (spec ``hgf.md`` §4.3) needs :math:`W_0(z)` for
:math:`z \ge 0`, where :math:`z` itself is an exponential that easily overflows.
This module therefore works from :math:`L = \log z` as well as from :math:`z`:

* :func:`lambertw0_log` evaluates :math:`W_0(e^L)` for any real ``L`` (``-inf``
  gives 0); it never forms :math:`e^L` when that would overflow.
* :func:`lambertw0` evaluates :math:`W_0(z)` for ``z >= 0`` (``inf`` gives ``inf``).

Method
------
Three regimes, each accurate to a few ulp (tested against
``scipy.special.lambertw(z, 0).real`` to 1e-12 relative over ``[0, 1e300]`` and,
through ``lambertw0_log``, up to ``L = 1e300``):

1. ``z < 1e-8``: series :math:`W = z - z^2 + \tfrac32 z^3` (truncation error
   :math:`\tfrac83 z^4`, i.e. below 3e-24 relative).
2. ``z <= e``: Halley's iteration on :math:`f(w) = w e^w - z`,
   :math:`w \leftarrow w - f / \big(e^w (w+1) - (w+2) f / (2w+2)\big)`,
   started at :math:`\log(1+z)`.
3. ``z > e`` (``L > 1``): Halley's iteration on the logarithmic form
   :math:`g(w) = w + \log w - L` (:math:`g' = 1 + 1/w`, :math:`g'' = -1/w^2`), started
   at :math:`L - \log L`; no exponential is formed, so any finite ``L`` works.

Both iterations converge cubically and stop once the relative step is below 1e-6
(the error left is then O(1e-18)); from these starting points (regime 3 starts at
:math:`L - \log L + \log L / L`) they take 2-4 steps (at most 12 are allowed).

Notes
-----
Only :math:`W_0` is provided: the argument of the robust update is positive, where
:math:`W_{-1}` is undefined (spec §8).
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, njit

__all__ = ["lambertw0", "lambertw0_log"]

# Halley converges cubically: after a relative step d the error is O(d^3), so a step
# below 1e-6 leaves an error far below one ulp and the iteration can stop.
_STOP = 1e-6
_MAXIT = 12


@njit(float64(float64), cache=True, nogil=True)
def _w0_small(z):
    """Halley's iteration on ``w e^w - z`` for ``1e-8 <= z <= e``."""
    w = math.log1p(z)
    for _ in range(_MAXIT):
        ew = math.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1))
        w -= step
        if abs(step) <= _STOP * abs(w):
            break
    return w


@njit(float64(float64), cache=True, nogil=True)
def _w0_logform(L):
    """Halley's iteration on ``w + log(w) - L`` for ``L > 1`` (``z > e``)."""
    lL = math.log(L)
    w = L - lL + lL / L
    for _ in range(_MAXIT):
        g = w + math.log(w) - L
        g1 = 1.0 + 1.0 / w
        g2 = -1.0 / (w * w)
        step = g / (g1 - 0.5 * g * g2 / g1)
        w -= step
        if abs(step) <= _STOP * abs(w):
            break
    return w


@njit(float64(float64), cache=True, nogil=True)
def lambertw0_log(L):
    r"""Return :math:`W_0(e^L)` for real ``L`` without forming :math:`e^L` when large.

    Parameters
    ----------
    L : float
        Natural logarithm of the argument; ``-inf`` means a zero argument.

    Returns
    -------
    float
        :math:`W_0(e^L) \ge 0`; NaN for NaN input, ``inf`` for ``L = inf``.

    Examples
    --------
    >>> round(lambertw0_log(1.0), 12)
    1.0
    """
    if L != L:
        return np.nan
    if L > 1.0:
        if L == np.inf:
            return np.inf
        return _w0_logform(L)
    z = math.exp(L)
    if z < 1e-8:
        return z * (1.0 - z * (1.0 - 1.5 * z))
    return _w0_small(z)


@njit(float64(float64), cache=True, nogil=True)
def lambertw0(z):
    r"""Return the principal branch :math:`W_0(z)` for ``z >= 0``.

    Parameters
    ----------
    z : float
        Argument, ``z >= 0`` (negative arguments give NaN: not needed by the HGF).

    Returns
    -------
    float
        The unique real :math:`w \ge 0` with :math:`w e^w = z`.

    Examples
    --------
    >>> lambertw0(0.0)
    0.0
    >>> round(lambertw0(math.e), 12)
    1.0
    """
    if z != z or z < 0.0:
        return np.nan
    if z == 0.0:
        return 0.0
    if z < 1e-8:
        return z * (1.0 - z * (1.0 - 1.5 * z))
    if z <= math.e:
        return _w0_small(z)
    if z == np.inf:
        return np.inf
    return _w0_logform(math.log(z))
