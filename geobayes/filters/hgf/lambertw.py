r"""Principal branch :math:`W_0` of the Lambert W function, jitted.

The robust HGF volatility update (spec ``hgf.md`` §4.3) needs :math:`W_0(z)` for
:math:`z \ge 0`, where :math:`z` itself is an exponential that easily overflows.
This module therefore works from :math:`L = \log z`:

* :func:`lambertw0_log` evaluates :math:`W_0(e^L)` for any real ``L`` (``-inf``
  gives 0); it never forms :math:`e^L` when that would overflow;
* :func:`lambertw0` evaluates :math:`W_0(z)` for ``z >= 0`` (``inf`` gives ``inf``).

Method
------
* ``z < 1e-8``: series :math:`W = z - z^2 + \tfrac32 z^3` (truncation error
  :math:`\tfrac83 z^4`, below 3e-24 relative).
* ``-18 <= L < 48``: a cubic Hermite interpolant of a table of :math:`W` and
  :math:`dW/dL = W/(1+W)` (step 1/8, within 6e-7), then one Fritsch step (below);
* otherwise a starting value — the Padé approximant
  :math:`z (1 + \tfrac43 z) / (1 + \tfrac73 z + \tfrac56 z^2)` for ``z <= e``, the
  asymptotic :math:`L - \log L + \log L / L` above — refined by the iteration of
  Fritsch, Shafer & Crowley (1973), which is of fourth order and needs only
  :math:`\log w` (never :math:`e^w`):

  .. math::

      \zeta = L - \log w - w, \quad
      q = 2 (1 + w) (1 + w + \tfrac23 \zeta), \quad
      w \leftarrow w \Big(1 + \frac{\zeta}{1 + w} \frac{q - \zeta}{q - 2\zeta}\Big)

  (evaluated with :math:`q / (1+w)^2` so that nothing overflows for huge ``L``).
  The starting values are within a few per cent, so one or two iterations reach
  full precision: iteration stops once the relative correction is below 1e-4, which
  leaves an error of order (1e-4)^4.

Tested against ``scipy.special.lambertw(z, 0).real`` to 1e-12 relative over
``[0, 1e300]`` and, through the identity :math:`w + \log w = L`, up to ``L = 1e300``.

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

_MAXIT = 8
# quartic convergence: a correction below 1e-4 leaves an error ~(1e-4)^4, below one ulp
_STOP = 1e-4


@njit(float64(float64), cache=True, nogil=True, error_model="numpy")
def _w0log_iter(L):
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
        lL = math.log(L)
        w = L - lL + lL / L
    else:
        z = math.exp(L)
        if z < 1e-8:
            return z * (1.0 - z * (1.0 - 1.5 * z))
        w = z * (1.0 + (4.0 / 3.0) * z) / (1.0 + z * (7.0 / 3.0 + (5.0 / 6.0) * z))
    for _ in range(_MAXIT):
        zeta = L - math.log(w) - w
        wp1 = 1.0 + w
        a = zeta / wp1
        q2 = 2.0 * (1.0 + (2.0 / 3.0) * a)  # q / (1 + w)^2
        eps = a * (q2 - a / wp1) / (q2 - 2.0 * a / wp1)
        w = w * (1.0 + eps)
        if abs(eps) < _STOP:
            break
    return w


# Table for the common range: W and dW/dL = W/(1+W) on L = -18, -18 + 1/8, ..., 48, built
# once with the iteration above.  Cubic Hermite interpolation is within 6e-7 relative, so
# a single fourth-order Fritsch step then reaches full precision (error ~(6e-7)^4).
_TAB_L0 = -18.0
_TAB_H = 0.125
_TAB_N = 529
_TAB_LMAX = _TAB_L0 + _TAB_H * (_TAB_N - 1)  # 48
_TAB_W = np.array([_w0log_iter(_TAB_L0 + _TAB_H * i) for i in range(_TAB_N)])
_TAB_D = _TAB_H * _TAB_W / (1.0 + _TAB_W)


@njit(float64(float64), cache=True, nogil=True, error_model="numpy")
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

    Notes
    -----
    For ``-18 <= L < 48`` (the range the HGF meets in practice) a cubic Hermite
    interpolant of a table gives a start within 6e-7, refined by one Fritsch step;
    elsewhere :func:`_w0log_iter` (series, or asymptotic start and iterations).

    Examples
    --------
    >>> round(lambertw0_log(1.0), 12)
    1.0
    """
    if L >= _TAB_L0 and L < _TAB_LMAX:
        x = (L - _TAB_L0) * (1.0 / _TAB_H)
        i = int(x)
        t = x - i
        t2 = t * t
        t3 = t2 * t
        w = (
            (2.0 * t3 - 3.0 * t2 + 1.0) * _TAB_W[i]
            + (t3 - 2.0 * t2 + t) * _TAB_D[i]
            + (3.0 * t2 - 2.0 * t3) * _TAB_W[i + 1]
            + (t3 - t2) * _TAB_D[i + 1]
        )
        r = 1.0 / (1.0 + w)  # independent of the log: overlaps with it
        a = (L - math.log(w) - w) * r
        c = a * r
        q2 = 2.0 * (1.0 + (2.0 / 3.0) * a)
        return w * (1.0 + a * (q2 - c) / (q2 - 2.0 * c))
    return _w0log_iter(L)


@njit(float64(float64), cache=True, nogil=True, error_model="numpy")
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
    if z == np.inf:
        return np.inf
    return lambertw0_log(math.log(z))
