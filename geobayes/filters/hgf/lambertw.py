r"""Principal branch :math:`W_0` of the Lambert W function, jitted.

The robust HGF volatility update (spec ``hgf.md`` §4.3) needs :math:`W_0(z)` for
:math:`z \ge 0`, where :math:`z` itself is an exponential that easily overflows.
This module therefore works from :math:`L = \log z`:

* :func:`lambertw0_log` evaluates :math:`W_0(e^L)` for any real ``L`` (``-inf``
  gives 0); it never forms :math:`e^L` when that would overflow;
* :func:`lambertw0` evaluates :math:`W_0(z)` for ``z >= 0`` (``inf`` gives ``inf``);
* :func:`lambertw0_pos` is its fast inline core for finite ``z > 0``.

Method
------
* ``2^-20 <= z < 2^64`` (the direct form, :func:`lambertw0_pos`): the exponent and
  the top three mantissa bits select one of 672 degree-10 polynomials in the
  mantissa (Chebyshev interpolants, within 3e-15 of scipy): no logarithm, no
  division, about 11 ns.
* ``z < 2^-20``: series :math:`W = z - z^2 + \tfrac32 z^3` (truncation error
  :math:`\tfrac83 z^4`, below 3e-18 relative).
* from the log, ``-18 <= L < 48``: a cubic Hermite interpolant of a table of :math:`W` and
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
from llvmlite import ir
from numba import float64, int64, njit
from numba.extending import intrinsic

__all__ = ["lambertw0", "lambertw0_log", "lambertw0_pos"]

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


@njit(float64[::1](float64[::1]), cache=True, nogil=True, error_model="numpy")
def _w0log_many(L):
    """:func:`_w0log_iter` over an array (builds the tables at import)."""
    out = np.empty_like(L)
    for i in range(L.shape[0]):
        out[i] = _w0log_iter(L[i])
    return out


_TAB_W = _w0log_many(_TAB_L0 + _TAB_H * np.arange(_TAB_N, dtype=np.float64))
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


@intrinsic
def _bits(typingctx, x):
    """The IEEE-754 bit pattern of a float64 as an int64 (no conversion)."""
    sig = int64(float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _from_bits(typingctx, x):
    """The float64 with the given int64 bit pattern."""
    sig = float64(int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


# Direct table for z in [2^-20, 2^64): each octave [2^e, 2^(e+1)) is cut into 8 pieces
# by the top 3 mantissa bits; on each piece W is a degree-10 polynomial in the local
# variable t = 16 m - (17 + 2j) in [-1, 1] (m the mantissa in [1, 2), j the piece),
# interpolating W at the 11 Chebyshev points.  The nearest singularity of W (the cut
# from -1/e to -inf) lies at least a piece-length's ~17 half-widths away, so the
# interpolant is within 3e-15 of scipy (tests).  No logarithm, no division: the robust
# HGF update calls this on its critical path.
_Z_E0 = -20
_Z_NE = 84  # octaves 2^-20 ... 2^63
_Z_DEG = 10
ZMIN_FAST = 2.0**_Z_E0  # the table's range
ZMAX_FAST = 2.0 ** (_Z_E0 + _Z_NE)
_MANT = (1 << 52) - 1
_ONE = 1023 << 52


def _build_ztab():
    from numpy.polynomial import chebyshev as C

    k = np.arange(_Z_DEG + 1)
    t = np.cos(np.pi * (k + 0.5) / (_Z_DEG + 1))
    e = np.arange(_Z_E0, _Z_E0 + _Z_NE)[:, None, None]
    j = np.arange(8)[None, :, None]
    z = 2.0**e * (1.0 + (j + 0.5) / 8.0 + t / 16.0)  # (octave, piece, node)
    w = _w0log_many(np.log(z).ravel()).reshape(-1, _Z_DEG + 1)
    cheb = C.chebfit(t, w.T, _Z_DEG).T  # interpolation at the Chebyshev points
    to_power = np.zeros((_Z_DEG + 1, _Z_DEG + 1))
    for i in range(_Z_DEG + 1):
        p = C.cheb2poly(np.eye(_Z_DEG + 1)[i])
        to_power[i, : p.size] = p
    return np.ascontiguousarray(cheb @ to_power)


_ZTAB = _build_ztab()


@njit(float64(float64), cache=True, nogil=True, error_model="numpy", inline="always")
def lambertw0_table(z):
    r"""Return :math:`W_0(z)` for ``ZMIN_FAST <= z < ZMAX_FAST`` (unchecked).

    The exponent and the top three mantissa bits select a degree-10 polynomial in
    the mantissa, evaluated in Estrin form: no branch, no logarithm, no division.
    The caller guarantees the range (outside it the table index is invalid).
    """
    b = _bits(z)
    j = (b >> 49) & 7
    m = _from_bits((b & _MANT) | _ONE)
    t = m * 16.0 - (17.0 + 2.0 * j)
    c = _ZTAB[(((b >> 52) - 1023 - _Z_E0) << 3) + j]
    t2 = t * t
    t4 = t2 * t2
    q0 = (c[0] + c[1] * t) + (c[2] + c[3] * t) * t2
    q1 = (c[4] + c[5] * t) + (c[6] + c[7] * t) * t2
    q2 = (c[8] + c[9] * t) + c[10] * t2
    return (q0 + q1 * t4) + q2 * (t4 * t4)


@njit(float64(float64), cache=True, nogil=True, error_model="numpy", inline="always")
def lambertw0_pos(z):
    r"""Return :math:`W_0(z)` for finite ``z > 0``: the fast form used by the HGF.

    :func:`lambertw0_table` on ``[2^-20, 2^64)``, the series below, the log-space
    :func:`lambertw0_log` above.  Relative error below 1e-14.

    Examples
    --------
    >>> round(lambertw0_pos(math.e), 12)
    1.0
    """
    if z < ZMIN_FAST:
        return z * (1.0 - z * (1.0 - 1.5 * z))
    if not (z < ZMAX_FAST):
        return lambertw0_log(math.log(z))
    return lambertw0_table(z)


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
    if z == np.inf:
        return np.inf
    return lambertw0_pos(z)
