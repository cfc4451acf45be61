"""Gaussian kernel density estimates at the particles, in log space, with O(N d) memory.

A particle method that needs the density of its own ensemble (SHK / birth-death Langevin)
evaluates, for every particle ``i`` of ``x`` (shape ``(N, d)``), the normalized
Gaussian kernel density estimate with a diagonal bandwidth ``h`` (one width per
coordinate)

.. math::

    \\hat\\rho_i = \\frac{1}{N'} \\sum_{j} \\prod_k \\frac{1}{\\sqrt{2\\pi} h_k}
        \\exp\\Big(-\\frac{(x_{ik} - x_{jk})^2}{2 h_k^2}\\Big),

with ``N' = N`` when the self term ``j = i`` is included and ``N - 1`` otherwise.  The
sum is taken in log space: with the self term the largest exponent is exactly 0, so one
streaming pass needs no shift; without it a second, max-shifted pass runs only for the
particles whose sum underflows.  Particles are sorted along the first coordinate and each
sum scans outwards from its particle; an optional ``cutoff`` (in bandwidths) stops the
scan where the omitted terms are negligible (the binned/windowed KDE of spec correction
2.10.7 for low dimension), ``cutoff = inf`` sums every pair.  Each particle's sum is
computed by one thread in a fixed order over ``j``, so the result is bit-identical
whatever the number of threads, and no ``N x N`` matrix is formed (memory ``O(N d)``).

Bandwidth rules (all return the per-coordinate widths ``h``):

* :func:`silverman_bandwidth` - the rule of thumb on standardized particles,
  ``h_k = h_scale * sd_k * (4 / ((d + 2) N))^(1/(d+4))``;
* :func:`knn_bandwidth` - a local scale for multimodal ensembles,
  ``h_k = h_scale * median_i r_kNN(i)`` (isotropic), the median distance to the
  ``k``-th nearest neighbour over a fixed, strided subset of at most 512 particles.

Examples
--------
>>> import numpy as np
>>> from geobayes.math.kde import kde_log_density
>>> x = np.array([[0.0], [1.0]])
>>> out = np.empty(2)
>>> kde_log_density(x, np.array([1.0]), True, out, np.inf, 0)
>>> bool(np.allclose(np.exp(out), 0.5 * (1 + np.exp(-0.5)) / np.sqrt(2 * np.pi)))
True
"""

from __future__ import annotations

import math

import numpy as np
from numba import boolean, float64, int64, njit, prange, void

from geobayes._lazy import lazy_njit

__all__ = [
    "kde_log_density",
    "kde_blob_term",
    "binned_kernel_sums_1d",
    "silverman_bandwidth",
    "knn_bandwidth",
]

_LOG_2PI = math.log(2.0 * math.pi)
_KNN_SUBSET = 512  # particles whose k-NN distance enters the median (strided, deterministic)


@lazy_njit(
    boolean(float64[:, ::1], float64, float64[::1], boolean, float64, int64, float64[::1]),
    cache=True,
    nogil=True,
)
def binned_kernel_sums_1d(x, h, w, include_self, cutoff, per_h, out):
    """1-D binned ``out_i = log sum_j w_j exp(-(x_i - x_j)^2 / (2 h^2))``; False if too big.

    Linear binning onto a grid of spacing ``h / per_h``, direct convolution with the
    Gaussian truncated at ``cutoff`` bandwidths, linear interpolation back to the
    particles (spec correction 2.10.7; ``per_h = 32`` matches the exact sum to about
    ``1e-4`` in the log).  Without the self term the binned image of particle ``i``'s own
    weight is subtracted.  Cost ``O(N + G L)`` for ``G`` grid points and ``L`` taps;
    returns False (``out`` untouched) when the grid would exceed ``64 N`` points, so the
    caller falls back to the pairwise sum.  Serial: the work is too small to pay for a
    parallel region (whose launch dominated it on a loaded machine).
    """
    n = x.shape[0]
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        lo = min(lo, x[i, 0])
        hi = max(hi, x[i, 0])
    delta = h / per_h
    g = int(math.ceil((hi - lo) / delta)) + 2
    if g > 64 * n + 1024:
        return False
    c = np.zeros(g)
    for j in range(n):  # serial: deterministic accumulation
        t = (x[j, 0] - lo) / delta
        l = min(int(t), g - 2)
        f = t - l
        c[l] += w[j] * (1.0 - f)
        c[l + 1] += w[j] * f
    taps = int(math.ceil(cutoff * per_h)) if math.isfinite(cutoff) else g
    taps = min(taps, g)
    kern = np.empty(taps + 1)
    for s in range(taps + 1):
        kern[s] = math.exp(-0.5 * (s / per_h) ** 2)
    dens = np.empty(g)
    for q in range(g):
        acc = c[q] * kern[0]
        for s in range(1, taps + 1):
            if q - s >= 0:
                acc += c[q - s] * kern[s]
            if q + s < g:
                acc += c[q + s] * kern[s]
        dens[q] = acc
    for i in range(n):
        t = (x[i, 0] - lo) / delta
        l = min(int(t), g - 2)
        f = t - l
        v = (1.0 - f) * dens[l] + f * dens[l + 1]
        if not include_self:
            k1 = kern[1] if taps >= 1 else 0.0
            v -= w[i] * (
                (1.0 - f) * ((1.0 - f) * kern[0] + f * k1) + f * ((1.0 - f) * k1 + f * kern[0])
            )
        out[i] = math.log(v) if v > 0.0 else -np.inf
    return True


@lazy_njit(
    void(float64[:, ::1], float64[::1], float64[::1], boolean, float64, float64[::1]),
    cache=True,
    parallel=True,
    nogil=True,
)
def _sorted_kernel_sums(ys, key, logw, include_self, cutoff, out):
    """``out[p] = log sum_q exp(-|ys_p - ys_q|^2 / 2 - logw_q)`` over ``|key_p - key_q| < cutoff``.

    ``ys`` are scaled particles sorted by ``key`` (their first coordinate); the scan from
    ``p`` outwards stops where the first coordinate alone is ``cutoff`` widths away.  One
    thread owns each ``p`` and adds in a fixed order (thread-count independent).
    Without the self term a particle whose sum underflows is summed again max-shifted.
    """
    n, d = ys.shape
    for p in prange(n):
        s = 0.0
        if include_self:
            s = math.exp(-logw[p])
        q = p - 1
        while q >= 0 and key[p] - key[q] < cutoff:
            r2 = 0.0
            for k in range(d):
                t = ys[p, k] - ys[q, k]
                r2 += t * t
            s += math.exp(-0.5 * r2 - logw[q])
            q -= 1
        q = p + 1
        while q < n and key[q] - key[p] < cutoff:
            r2 = 0.0
            for k in range(d):
                t = ys[p, k] - ys[q, k]
                r2 += t * t
            s += math.exp(-0.5 * r2 - logw[q])
            q += 1
        if s > 1e-250:
            out[p] = math.log(s)
            continue
        m = -np.inf  # underflow (possible only without the self term): shifted pass over all
        for q in range(n):
            if q != p:
                r2 = 0.0
                for k in range(d):
                    t = ys[p, k] - ys[q, k]
                    r2 += t * t
                m = max(m, -0.5 * r2 - logw[q])
        acc = 0.0
        for q in range(n):
            if q != p:
                r2 = 0.0
                for k in range(d):
                    t = ys[p, k] - ys[q, k]
                    r2 += t * t
                acc += math.exp(-0.5 * r2 - logw[q] - m)
        out[p] = m + math.log(acc) if acc > 0.0 else -np.inf


@njit(cache=True, nogil=True)
def _scaled_sorted(x, h, sort):
    """Particles scaled by ``h``, sorted along the first coordinate when ``sort`` (the
    windowed sum needs it; the exact sum, ``cutoff = inf``, skips the serial sort)."""
    n, d = x.shape
    key = np.empty(n)
    for i in range(n):
        key[i] = x[i, 0] / h[0]
    if sort:
        order = np.argsort(key, kind="mergesort")
    else:
        order = np.empty(n, dtype=np.int64)
        for p in range(n):
            order[p] = p
    ys = np.empty((n, d))  # explicit loops: fewer array helpers to compile
    for p in range(n):
        q = order[p]
        for k in range(d):
            ys[p, k] = x[q, k] / h[k]
        key[p] = ys[p, 0]
    return ys, key, order


@njit(cache=True, nogil=True)
def _log_norm(h, n_eff):
    d = h.shape[0]
    out = 0.5 * d * _LOG_2PI + math.log(n_eff)
    for k in range(d):
        out += math.log(h[k])
    return out


@lazy_njit(
    void(float64[:, ::1], float64[::1], boolean, float64[::1], float64, int64),
    cache=True,
    nogil=True,
)
def kde_log_density(x, h, include_self, out, cutoff, per_h):
    """Write ``log rho_hat_i`` (normalized Gaussian KDE, diagonal bandwidth ``h``) to ``out``.

    ``cutoff`` (in bandwidths, along the first coordinate) truncates the sum: with
    ``cutoff = 9`` each omitted term is below ``exp(-40.5) = 2.6e-18`` of the self term, so
    ``log rho_hat`` changes by less than ``N * 2.6e-18``; ``inf`` is exact.
    For a finite ``cutoff`` the particles are sorted along the first coordinate once
    (``O(N log N)``, serial), which makes the truncated sum cost ``O(N m d)`` for ``m``
    neighbours within the window; the exact sum skips the sort.
    ``per_h > 0`` in one dimension uses :func:`binned_kernel_sums_1d` (grid spacing
    ``h / per_h``) instead, unless the grid would be too large.
    """
    n = x.shape[0]
    ln = _log_norm(h, n if include_self else n - 1)
    if per_h > 0 and x.shape[1] == 1:
        if binned_kernel_sums_1d(x, h[0], np.ones(n), include_self, cutoff, per_h, out):
            for i in range(n):
                out[i] -= ln
            return
    ys, key, order = _scaled_sorted(x, h, math.isfinite(cutoff))
    tmp = np.empty(n)
    _sorted_kernel_sums(ys, key, np.zeros(n), include_self, cutoff, tmp)
    for p in range(n):
        out[order[p]] = tmp[p] - ln


@lazy_njit(
    void(float64[:, ::1], float64[::1], boolean, float64[::1], float64[::1], float64, int64),
    cache=True,
    nogil=True,
)
def kde_blob_term(x, h, include_self, log_rho, out, cutoff, per_h):
    """Write ``(1/N') sum_j K_h(x_j - x_i) / rho_hat_j`` to ``out`` (needs ``log_rho``).

    This is the extra term of the first variation of the kernelized energy
    ``int rho log((K_h * rho) / pi)`` (Lu, Slepcev & Wang), the ``"blob"`` rate of SHK.
    With the normalization constants cancelled it equals ``sum_j k_ij / S_j`` where
    ``S_j = sum_l k_jl`` is particle ``j``'s unnormalized kernel sum.
    """
    n = x.shape[0]
    ln = _log_norm(h, n if include_self else n - 1)
    if per_h > 0 and x.shape[1] == 1:
        w = np.empty(n)
        for j in range(n):
            w[j] = math.exp(-(log_rho[j] + ln))
        if binned_kernel_sums_1d(x, h[0], w, include_self, cutoff, per_h, out):
            for i in range(n):
                out[i] = math.exp(out[i])
            return
    ys, key, order = _scaled_sorted(x, h, math.isfinite(cutoff))
    logw = np.empty(n)
    for p in range(n):
        logw[p] = log_rho[order[p]] + ln  # log S_j in sorted order
    tmp = np.empty(n)
    _sorted_kernel_sums(ys, key, logw, include_self, cutoff, tmp)
    for p in range(n):
        out[order[p]] = math.exp(tmp[p])


@njit(cache=True, nogil=True)
def column_sd(x, k, ddof):
    """Standard deviation of coordinate ``k`` over the particles ``x`` (rows), with divisor
    ``max(n - ddof, 1)``: the spread every particle method scales by."""
    n = x.shape[0]
    m = 0.0
    for i in range(n):
        m += x[i, k]
    m /= n
    v = 0.0
    for i in range(n):
        t = x[i, k] - m
        v += t * t
    return math.sqrt(v / max(n - ddof, 1))


@lazy_njit(void(float64[:, ::1], float64, float64[::1]), cache=True, nogil=True)
def silverman_bandwidth(x, h_scale, out):
    """Per-coordinate rule-of-thumb widths ``h_scale * sd_k * (4/((d+2)N))^(1/(d+4))``.

    A coordinate with zero spread (all particles equal) gets the width of the largest
    spread, or 1 when every coordinate is degenerate, so the KDE stays defined.
    """
    n, d = x.shape
    factor = h_scale * (4.0 / ((d + 2.0) * n)) ** (1.0 / (d + 4.0))
    big = 0.0
    for k in range(d):
        sd = column_sd(x, k, 1)
        out[k] = sd
        if sd > big:
            big = sd
    if not big > 0.0:
        big = 1.0
    for k in range(d):
        if not out[k] > 0.0:
            out[k] = big
        out[k] *= factor


@lazy_njit(float64(float64[:, ::1], int64), cache=True, parallel=True, nogil=True)
def _median_knn_distance(x, k):
    n, d = x.shape
    m = min(n, _KNN_SUBSET)
    stride = n // m
    dist = np.empty(m)
    for s in prange(m):
        i = s * stride
        best = np.full(k, np.inf)  # sorted ascending: the k smallest squared distances
        for j in range(n):
            if j == i:
                continue
            r2 = 0.0
            for c in range(d):
                t = x[i, c] - x[j, c]
                r2 += t * t
            if r2 < best[k - 1]:
                p = k - 1
                while p > 0 and best[p - 1] > r2:
                    best[p] = best[p - 1]
                    p -= 1
                best[p] = r2
        dist[s] = math.sqrt(best[k - 1])
    for a in range(1, m):  # insertion sort (m <= 512), then the median
        v = dist[a]
        p = a
        while p > 0 and dist[p - 1] > v:
            dist[p] = dist[p - 1]
            p -= 1
        dist[p] = v
    return dist[m // 2] if m % 2 == 1 else 0.5 * (dist[m // 2 - 1] + dist[m // 2])


@lazy_njit(void(float64[:, ::1], float64, int64, float64[::1]), cache=True, nogil=True)
def knn_bandwidth(x, h_scale, k, out):
    """Isotropic local width ``h_scale * median k-th-nearest-neighbour distance``.

    The median runs over at most 512 particles taken with a fixed stride (deterministic),
    each against all ``N`` particles; duplicates at distance 0 fall back to the Silverman
    rule so the KDE stays defined.
    """
    n = x.shape[0]
    kk = min(max(k, 1), n - 1)
    r = _median_knn_distance(x, kk)
    if not r > 0.0:
        silverman_bandwidth(x, h_scale, out)
        return
    for c in range(out.shape[0]):
        out[c] = h_scale * r
