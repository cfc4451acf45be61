r"""The posteriordb benchmark posteriors, written by hand from their Stan programs.

Seven posteriors of `posteriordb <https://github.com/stan-dev/posteriordb>`_ (eight schools,
the eighth, lives in :mod:`geobayes.models.eight_schools`), each a jitted log density of the
type :data:`geobayes.types.LPG` with a hand-written gradient, on Stan's unconstrained space
and with Stan's log-Jacobians, so that a draw of ours and a draw of Stan's are draws of the
same distribution.  Parameter names and shapes are those of the Stan ``parameters`` block
(plus the transformed parameters stored in posteriordb's reference draws), so a trace can be
set beside the reference draws column by column (:mod:`geobayes.models.reference`).

========================================  ===  ==========================================
posterior (alias)                         dim  unconstrained vector ``theta``
========================================  ===  ==========================================
``arK-arK`` (``arK``)                     7    ``alpha, beta[5], log sigma``
``garch-garch11`` (``garch11``)           4    ``mu, log alpha0, logit alpha1,``
                                               ``logit(beta1 / (1 - alpha1))``
``gp_pois_regr-gp_pois_regr``             13   ``log rho, log alpha, f_tilde[11]``
``kidiq-kidscore_interaction``            5    ``beta[4], log sigma``
``kilpisjarvi_mod-kilpisjarvi``           3    ``alpha, beta, log sigma``
``low_dim_gauss_mix-low_dim_gauss_mix``   5    ``mu[1], log(mu[2] - mu[1]), log sigma[2],``
                                               ``logit theta``
``sblrc-blr`` (``blr``)                   6    ``beta[5], log sigma``
========================================  ===  ==========================================

The transforms are Stan's: ``lower=0`` is ``x = exp(u)`` (log-Jacobian ``u``);
``lower=0, upper=1`` is ``x = inv_logit(u)``; GARCH's ``beta1`` with the parameter-dependent
upper bound ``1 - alpha1`` is ``beta1 = (1 - alpha1) inv_logit(u)``, whose log-Jacobian
``log(1 - alpha1) + log s + log(1 - s)`` depends on ``alpha1`` too; ``ordered[2]`` is
``mu[2] = mu[1] + exp(u)``.  Stan's ``~`` statements drop constants; our densities keep the
normalizing constants of every term (``scipy.stats``'s), so they equal Stan's ``lp__`` up to
an additive constant.

Every factory takes an optional ``data`` mapping with the Stan data-block names (default:
posteriordb's data set, shipped with the package), so the same model fits a new data set with
no recompilation: data travel in ``fdata``/``idata``.  The three Gaussian linear regressions
(``kidiq``, ``kilpisjarvi``, ``blr``) share one kernel, :func:`gaussian_linear_lpg`, whose
priors are chosen by codes in ``idata``.

Data source and licence: the data files in ``geobayes/models/data/`` are copied unchanged
from posteriordb (commit ``28f8d3d6e975315f42aa274a8399f21e07a43b30``), distributed under the
BSD 3-Clause licence, Copyright (c) 2011-2024, Stan Developers and their Assignees (text in
``geobayes/models/data/LICENSE-posteriordb.txt``).  Please cite Magnusson, Bürkner and Vehtari
(2023), *posteriordb: a set of posteriors for Bayesian inference and probabilistic
programming*.

Examples
--------
>>> from geobayes.models import get
>>> model = get("garch-garch11")
>>> model
Model(name='garch-garch11', dim=4, params={'mu': (), 'alpha0': (), 'alpha1': (), 'beta1': ()})
>>> draws = model.constrain([0.0, 0.0, 0.0, 0.0])
>>> float(draws["alpha1"]), float(draws["beta1"])  # beta1 = (1 - alpha1) / 2
(0.5, 0.25)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources

import numpy as np
from numba import njit

from geobayes.math.special import log_sigmoid, sigmoid
from geobayes.models.base import Model
from geobayes.models.distributions import (
    beta_lpdf,
    gamma_lpdf,
    half_cauchy_lpdf,
    half_normal_lpdf,
    normal_lpdf,
)
from geobayes.models.transforms import ordered_grad

__all__ = [
    "POSTERIORDB_MODELS",
    "posteriordb_data",
    "ark",
    "garch11",
    "gp_pois_regr",
    "kidscore_interaction",
    "kilpisjarvi",
    "low_dim_gauss_mix",
    "blr",
    "gaussian_linear_lpg",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_NEG_INF = -math.inf


@njit(cache=True, error_model="numpy", inline="always")
def _finite(lp, g):
    """``(lp, g)``, or ``(-inf, 0)`` when ``lp`` is not finite: the sampler then rejects."""
    if math.isfinite(lp):
        return lp, g
    return _NEG_INF, np.zeros(g.shape[0])


# --------------------------------------------------------------------------- data
def posteriordb_data(name: str) -> dict:
    """The data set of a posteriordb posterior shipped with the package, as parsed JSON.

    Parameters
    ----------
    name : str
        Posterior name, e.g. ``"garch-garch11"``.

    Returns
    -------
    dict
        Stan data names to Python numbers and lists (posteriordb's ``data.json``).

    Examples
    --------
    >>> posteriordb_data("garch-garch11")["T"]
    200
    """
    path = resources.files("geobayes.models").joinpath("data", f"{name}.json")
    if not path.is_file():
        raise ValueError(
            f"no packaged data for posterior {name!r}; packaged: {', '.join(POSTERIORDB_MODELS)}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _data(name: str, data) -> Mapping:
    if data is None:
        return posteriordb_data(name)
    if not isinstance(data, Mapping):
        raise TypeError(
            f"data must be a mapping of Stan data names to values, got {type(data).__name__}"
        )
    return data


def _real(data, key: str, shape=None, *, what: str) -> np.ndarray:
    if key not in data:
        raise ValueError(f"data for {what} lacks {key!r} (Stan data names are expected)")
    arr = np.asarray(data[key], dtype=np.float64)
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(
            f"data[{key!r}] must have shape {tuple(shape)} for {what}, got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"data[{key!r}] must be finite for {what}")
    return arr


def _size(data, key: str, value: int, *, what: str) -> None:
    """Check a Stan size variable (``N``, ``T``, ...) against the array it sizes, if given."""
    if key in data and int(data[key]) != value:
        raise ValueError(
            f"data[{key!r}] = {data[key]} does not match the arrays ({value}) for {what}"
        )


def _check_positive(arr, key: str, what: str) -> None:
    if np.any(np.asarray(arr) <= 0):
        raise ValueError(f"data[{key!r}] must be positive for {what}")


def _exp(u):
    """``np.exp`` for the trace: far warmup points may overflow to inf, without a warning."""
    with np.errstate(over="ignore"):
        return np.exp(u)


def _expit(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))


# --------------------------------------------------------------------------- arK
@njit(cache=True, error_model="numpy")
def ark_lpg(theta, fdata, idata):
    """AR(K): ``theta = (alpha, beta[K], log sigma)``; ``idata = [K, T]``, ``fdata = y (T)``.

    ``alpha, beta ~ normal(0, 10)``, ``sigma ~ half-cauchy(2.5)``,
    ``y[t] ~ normal(alpha + sum_k beta[k] y[t-k], sigma)`` for ``t > K``.
    """
    k, t_len = idata[0], idata[1]
    y = fdata
    g = np.empty(theta.shape[0])
    lp = 0.0
    for j in range(k + 1):
        lj, dj, _, _ = normal_lpdf(theta[j], 0.0, 10.0)
        lp += lj
        g[j] = dj
    lsig = theta[k + 1]
    sigma = math.exp(lsig)
    ls, ds, _ = half_cauchy_lpdf(sigma, 2.5)
    lp += ls + lsig
    gs = ds * sigma + 1.0
    inv_s2 = 1.0 / (sigma * sigma)
    ss = 0.0
    for t in range(k, t_len):
        mu = theta[0]
        for j in range(k):
            mu += theta[1 + j] * y[t - 1 - j]
        r = y[t] - mu
        ss += r * r
        rr = r * inv_s2
        g[0] += rr
        for j in range(k):
            g[1 + j] += rr * y[t - 1 - j]
    n = t_len - k
    lp += -0.5 * ss * inv_s2 - n * (lsig + _HALF_LOG_2PI)
    g[k + 1] = gs + ss * inv_s2 - n
    return _finite(lp, g)


@njit(cache=True, error_model="numpy")
def _ark_pointwise(theta, fdata, idata):
    k, t_len = idata[0], idata[1]
    y = fdata
    lsig = theta[k + 1]
    sigma = math.exp(lsig)
    out = np.empty(t_len - k)
    for t in range(k, t_len):
        mu = theta[0]
        for j in range(k):
            mu += theta[1 + j] * y[t - 1 - j]
        z = (y[t] - mu) / sigma
        out[t - k] = -0.5 * z * z - lsig - _HALF_LOG_2PI
    return out


def ark(data=None) -> Model:
    """AR(K) time series (posteriordb ``arK-arK``): Stan data ``K``, ``T``, ``y[T]``.

    Parameters: ``alpha``, ``beta[K]``, ``sigma > 0``; the pointwise log-likelihood covers
    ``y[K+1..T]`` (the conditional likelihood), stored as ``observed_data["y"]`` beside the
    first ``K`` values ``y_initial``.

    Examples
    --------
    >>> ark().params
    {'alpha': (), 'beta': (5,), 'sigma': ()}
    """
    what = "arK"
    data = _data("arK-arK", data)
    y = _real(data, "y", what=what)
    if y.ndim != 1:
        raise ValueError(f"data['y'] must be 1-D for {what}, got shape {y.shape}")
    if "K" not in data:
        raise ValueError(f"data for {what} lacks 'K' (the autoregressive order)")
    k = int(data["K"])
    t_len = y.size
    _size(data, "T", t_len, what=what)
    if not 1 <= k < t_len:
        raise ValueError(f"K must satisfy 1 <= K < T for {what}, got K={k}, T={t_len}")

    def constrain(b):
        return {"alpha": b[:, 0], "beta": b[:, 1 : k + 1], "sigma": _exp(b[:, k + 1])}

    return Model(
        ark_lpg,
        {"alpha": (), "beta": (k,), "sigma": ()},
        name="arK-arK",
        data=(y, np.array([k, t_len])),
        constrain=constrain,
        # y[K+1..T] are the modelled observations (aligned with the log-likelihood);
        # y[1..K] only start the recursion
        observed_data={"y": y[k:], "y_initial": y[:k]},
        pointwise_loglik=_ark_pointwise,
        loglik_name="y",
        coords={
            "lag": np.arange(1, k + 1),
            "time": np.arange(k + 1, t_len + 1),
            "initial_time": np.arange(1, k + 1),
        },
        dims={"beta": ["lag"], "y": ["time"], "y_initial": ["initial_time"]},
        description=f"posteriordb arK-arK: AR({k}) time series, T={t_len}",
    )


# --------------------------------------------------------------------------- GARCH(1,1)
@njit(cache=True, error_model="numpy")
def garch11_lpg(theta, fdata, idata):
    r"""GARCH(1,1): ``theta = (mu, log alpha0, logit alpha1, logit(beta1 / (1 - alpha1)))``.

    ``idata = [T]``, ``fdata = [y (T), sigma1]``.  Flat priors on the constrained region,
    ``v_1 = sigma1^2``, ``v_t = alpha0 + alpha1 (y_{t-1} - mu)^2 + beta1 v_{t-1}`` and
    ``y_t ~ normal(mu, sqrt(v_t))``.  The gradient carries the derivatives of ``v_t`` forward
    through the recursion (four numbers per step).
    """
    t_len = idata[0]
    y = fdata
    sigma1 = fdata[t_len]
    mu = theta[0]
    a0 = math.exp(theta[1])
    s1 = sigmoid(theta[2])
    c1 = sigmoid(-theta[2])  # 1 - alpha1, accurate when alpha1 is near 1
    s2 = sigmoid(theta[3])
    c2 = sigmoid(-theta[3])
    a1 = s1
    b1 = c1 * s2
    # log-Jacobian: log alpha0 + log s1 + log(1 - s1) + log(1 - alpha1) + log s2 + log(1 - s2)
    ls1m = log_sigmoid(-theta[2])
    logj = theta[1] + log_sigmoid(theta[2]) + 2.0 * ls1m + log_sigmoid(theta[3])
    logj += log_sigmoid(-theta[3])
    v = sigma1 * sigma1
    dv_mu = 0.0
    dv_a0 = 0.0
    dv_a1 = 0.0
    dv_b1 = 0.0
    lp = 0.0
    g_mu = 0.0
    g_a0 = 0.0
    g_a1 = 0.0
    g_b1 = 0.0
    for t in range(t_len):
        if t > 0:
            e = y[t - 1] - mu
            dv_mu = -2.0 * a1 * e + b1 * dv_mu
            dv_a0 = 1.0 + b1 * dv_a0
            dv_a1 = e * e + b1 * dv_a1
            dv_b1 = v + b1 * dv_b1  # v is still v_{t-1} here
            v = a0 + a1 * e * e + b1 * v
        r = y[t] - mu
        q = r * r / v
        lp -= 0.5 * (math.log(v) + q)
        dldv = 0.5 * (q - 1.0) / v
        g_mu += r / v + dldv * dv_mu
        g_a0 += dldv * dv_a0
        g_a1 += dldv * dv_a1
        g_b1 += dldv * dv_b1
    lp -= t_len * _HALF_LOG_2PI
    g = np.empty(4)
    g[0] = g_mu
    g[1] = g_a0 * a0 + 1.0
    ds1 = s1 * c1  # d alpha1 / du1; d beta1 / du1 = -ds1 * s2
    g[2] = (g_a1 - g_b1 * s2) * ds1 + 1.0 - 3.0 * s1
    g[3] = g_b1 * c1 * s2 * c2 + 1.0 - 2.0 * s2
    return _finite(lp + logj, g)


@njit(cache=True, error_model="numpy")
def _garch11_pointwise(theta, fdata, idata):
    t_len = idata[0]
    y = fdata
    mu = theta[0]
    a0 = math.exp(theta[1])
    a1 = sigmoid(theta[2])
    b1 = sigmoid(-theta[2]) * sigmoid(theta[3])
    v = fdata[t_len] * fdata[t_len]
    out = np.empty(t_len)
    for t in range(t_len):
        if t > 0:
            e = y[t - 1] - mu
            v = a0 + a1 * e * e + b1 * v
        r = y[t] - mu
        out[t] = -0.5 * (math.log(v) + r * r / v) - _HALF_LOG_2PI
    return out


def garch11(data=None) -> Model:
    """GARCH(1,1) volatility (posteriordb ``garch-garch11``): data ``T``, ``y[T]``, ``sigma1``.

    Parameters ``mu``, ``alpha0 > 0``, ``0 < alpha1 < 1`` and ``0 < beta1 < 1 - alpha1``
    (Stan's parameter-dependent bound: ``beta1 = (1 - alpha1) inv_logit(u)``, log-Jacobian
    ``log(1 - alpha1) + log s + log(1 - s)``); flat priors, as in the Stan program.

    Examples
    --------
    >>> m = garch11()
    >>> m.dim, list(m.params)
    (4, ['mu', 'alpha0', 'alpha1', 'beta1'])
    """
    what = "garch11"
    data = _data("garch-garch11", data)
    y = _real(data, "y", what=what)
    if y.ndim != 1 or y.size < 1:
        raise ValueError(f"data['y'] must be a non-empty 1-D array for {what}")
    _size(data, "T", y.size, what=what)
    sigma1 = float(_real(data, "sigma1", (), what=what))
    _check_positive(sigma1, "sigma1", what)

    def constrain(b):
        a1 = _expit(b[:, 2])
        return {
            "mu": b[:, 0],
            "alpha0": _exp(b[:, 1]),
            "alpha1": a1,
            "beta1": _expit(-b[:, 2]) * _expit(b[:, 3]),
        }

    return Model(
        garch11_lpg,
        {"mu": (), "alpha0": (), "alpha1": (), "beta1": ()},
        name="garch-garch11",
        data=(np.concatenate([y, [sigma1]]), np.array([y.size])),
        constrain=constrain,
        observed_data={"y": y},
        pointwise_loglik=_garch11_pointwise,
        loglik_name="y",
        dims={"y": ["time"]},
        description=f"posteriordb garch-garch11: GARCH(1,1) volatility, T={y.size}",
    )


# --------------------------------------------------------------------------- GP Poisson
_GP_JITTER = 1e-10  # the Stan program's diag_matrix(rep_vector(1e-10, N))


@njit(cache=True, error_model="numpy")
def _cholesky(a, out):
    """Lower Cholesky factor of ``a`` into ``out``; False when ``a`` is not positive definite."""
    n = a.shape[0]
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= out[j, k] * out[j, k]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        out[j, j] = d
        inv_d = 1.0 / d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= out[i, k] * out[j, k]
            out[i, j] = s * inv_d
        for i in range(j):
            out[i, j] = 0.0
    return True


@njit(cache=True, error_model="numpy")
def _gp_factor(x, alpha, rho):
    n = x.shape[0]
    k0 = np.empty((n, n))
    d2 = np.empty((n, n))
    a2 = alpha * alpha
    for i in range(n):
        for j in range(n):
            dx = x[i] - x[j]
            d2[i, j] = dx * dx
            k0[i, j] = a2 * math.exp(-0.5 * dx * dx / (rho * rho))
    kj = k0.copy()
    for i in range(n):
        kj[i, i] += _GP_JITTER
    lower = np.zeros((n, n))
    ok = _cholesky(kj, lower)
    return k0, d2, lower, ok


@njit(cache=True, error_model="numpy")
def gp_pois_regr_lpg(theta, fdata, idata):
    r"""Latent GP Poisson regression: ``theta = (log rho, log alpha, f_tilde[N])``.

    ``idata = [N, k (N)]``, ``fdata = [x (N), log k! (N)]``.  ``rho ~ gamma(25, 4)``, ``alpha ~
    half-normal(2)``, ``f_tilde ~ normal(0, 1)``, ``f = L f_tilde`` with ``L L^T = K + 1e-10
    I``, ``K_ij = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2))``, ``k ~ poisson_log(f)``.  A factor
    that fails (``K`` not numerically positive definite) gives ``-inf``, as Stan rejects.

    Gradient: in ``f_tilde`` it is ``w - f_tilde`` with ``w = L^T r``, ``r = k - e^f``.  In
    the kernel's parameters it uses the reverse mode of the Cholesky factorization
    (Murray 2016): the log likelihood depends on ``L`` through ``r^T L z`` (``z =
    f_tilde``), whose derivative along ``dK`` is ``w^T Phi(L^{-1} dK L^{-T}) z`` (``Phi``:
    lower triangle, diagonal halved), i.e. ``<Kbar, dK>`` with ``Kbar = L^{-T} B L^{-1}``
    and ``B`` the lower triangle of ``w z^T`` with its diagonal halved.  One ``Kbar`` (two
    triangular solves) serves both parameters: ``dK / dlog rho = K0 d2 / rho^2`` and, since
    ``2 K0 = 2 (L L^T - 1e-10 I)``, ``<Kbar, 2 K0> = 2 tr(B) - 2e-10 tr(Kbar)`` exactly.
    """
    n = idata[0]
    counts = idata[1 : 1 + n]
    x = fdata[:n]
    log_k_fact = fdata[n : 2 * n]
    lrho, lalpha = theta[0], theta[1]
    rho = math.exp(lrho)
    alpha = math.exp(lalpha)
    ft = theta[2 : 2 + n]
    g = np.zeros(theta.shape[0])
    work = np.empty((3 * n + 1, n))
    kj = work[:n]  # K + jitter I; off the diagonal K0
    lower = work[n : 2 * n]
    y = work[2 * n : 3 * n]
    inv_d = work[3 * n]  # 1 / L_ii
    a2 = alpha * alpha
    c_r = -0.5 / (rho * rho)
    for i in range(n):
        kj[i, i] = a2 + _GP_JITTER
        for j in range(i):
            dx = x[i] - x[j]
            v = a2 * math.exp(c_r * dx * dx)
            kj[i, j] = v
            kj[j, i] = v
    if not _cholesky(kj, lower):
        return _NEG_INF, g
    lp, dr, _, _ = gamma_lpdf(rho, 25.0, 4.0)
    la, da, _ = half_normal_lpdf(alpha, 2.0)
    lp += la + lrho + lalpha
    g[0] = dr * rho + 1.0
    g[1] = da * alpha + 1.0
    resid = np.empty(2 * n)  # d loglik / d f = k - exp(f), then w = L^T resid
    w = resid[n:]
    for i in range(n):
        f = 0.0
        for j in range(i + 1):
            f += lower[i, j] * ft[j]
        ef = math.exp(f)
        c = float(counts[i])
        lp += c * f - ef - log_k_fact[i] - 0.5 * ft[i] * ft[i] - _HALF_LOG_2PI
        resid[i] = c - ef
    if not math.isfinite(lp):
        return _NEG_INF, g
    for i in range(n):
        inv_d[i] = 1.0 / lower[i, i]
    tr_b = 0.0
    for j in range(n):
        s = 0.0
        for i in range(j, n):
            s += lower[i, j] * resid[i]
        w[j] = s
        g[2 + j] = s - ft[j]
        tr_b += 0.5 * s * ft[j]
    # y <- L^{-T} B  (B_ij = w_i z_j for i > j, w_i z_i / 2 on the diagonal, 0 above)
    for c in range(n):
        for i in range(n - 1, -1, -1):
            if i > c:
                s = w[i] * ft[c]
            elif i == c:
                s = 0.5 * w[i] * ft[c]
            else:
                s = 0.0
            for k in range(i + 1, n):
                s -= lower[k, i] * y[k, c]
            y[i, c] = s * inv_d[i]
    # row c of kbar = y L^{-1}: solve L^T col = y[c, :]^T; contract with dK / dlog rho
    g_rho = 0.0
    tr_kbar = 0.0
    col = resid[:n]  # resid is no longer needed: reuse it as one column
    for c in range(n):
        for i in range(n - 1, -1, -1):
            s = y[c, i]
            for k in range(i + 1, n):
                s -= lower[k, i] * col[k]
            col[i] = s * inv_d[i]
        tr_kbar += col[c]
        for i in range(n):
            if i != c:
                dx = x[i] - x[c]
                g_rho += col[i] * kj[c, i] * dx * dx
    g[0] += g_rho / (rho * rho)
    g[1] += 2.0 * tr_b - 2.0 * _GP_JITTER * tr_kbar
    return _finite(lp, g)


@njit(cache=True, error_model="numpy")
def _gp_pointwise(theta, fdata, idata):
    n = idata[0]
    x = fdata[:n]
    _, _, lower, ok = _gp_factor(x, math.exp(theta[1]), math.exp(theta[0]))
    out = np.empty(n)
    for i in range(n):
        f = 0.0
        for j in range(i + 1):
            f += lower[i, j] * theta[2 + j]
        c = float(idata[1 + i])
        out[i] = c * f - math.exp(f) - math.lgamma(c + 1.0) if ok else _NEG_INF
    return out


@njit(cache=True, error_model="numpy")
def _gp_f_batch(x, log_rho, log_alpha, f_tilde):
    n_draws, n = f_tilde.shape
    out = np.empty((n_draws, n))
    for d in range(n_draws):
        _, _, lower, ok = _gp_factor(x, math.exp(log_alpha[d]), math.exp(log_rho[d]))
        for i in range(n):
            f = 0.0
            for j in range(i + 1):
                f += lower[i, j] * f_tilde[d, j]
            out[d, i] = f if ok else math.nan
    return out


def gp_latent_f(x, rho, alpha, f_tilde) -> np.ndarray:
    """``f = L f_tilde`` for batches: ``rho, alpha`` of shape (n,), ``f_tilde`` (n, N).

    Uses the log density's own Cholesky factorization, so every accepted draw has its ``f``
    (NaN where the factorization fails, which an accepted draw never does).
    """
    with np.errstate(divide="ignore"):
        lr = np.log(np.asarray(rho, dtype=float))
        la = np.log(np.asarray(alpha, dtype=float))
    return _gp_f_batch(
        np.ascontiguousarray(x, dtype=float), lr, la, np.ascontiguousarray(f_tilde, dtype=float)
    )


def gp_pois_regr(data=None) -> Model:
    """Latent Gaussian-process Poisson regression (posteriordb ``gp_pois_regr-gp_pois_regr``).

    Stan data ``N``, ``x[N]`` (real), ``k[N]`` (counts).  Parameters ``rho > 0``,
    ``alpha > 0``, ``f_tilde[N]``; the trace also holds the transformed parameter
    ``f = L f_tilde`` that posteriordb's reference draws store.

    Examples
    --------
    >>> gp_pois_regr().params
    {'rho': (), 'alpha': (), 'f_tilde': (11,)}
    """
    what = "gp_pois_regr"
    data = _data("gp_pois_regr-gp_pois_regr", data)
    x = _real(data, "x", what=what)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"data['x'] must be a non-empty 1-D array for {what}")
    if "k" not in data:
        raise ValueError(f"data for {what} lacks 'k' (the counts)")
    k_raw = np.asarray(data["k"])
    if k_raw.shape != x.shape or not np.all(k_raw == np.round(k_raw)) or np.any(k_raw < 0):
        raise ValueError(f"data['k'] must hold {x.size} non-negative integer counts for {what}")
    counts = k_raw.astype(np.int64)
    n = x.size
    _size(data, "N", n, what=what)

    def constrain(b):
        ft = np.ascontiguousarray(b[:, 2:])
        return {
            "rho": _exp(b[:, 0]),
            "alpha": _exp(b[:, 1]),
            "f_tilde": ft,
            "f": _gp_f_batch(x, np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(b[:, 1]), ft),
        }

    fdata = np.concatenate([x, [math.lgamma(c + 1.0) for c in counts]])
    return Model(
        gp_pois_regr_lpg,
        {"rho": (), "alpha": (), "f_tilde": (n,)},
        name="gp_pois_regr-gp_pois_regr",
        data=(fdata, np.concatenate([[n], counts])),
        constrain=constrain,
        observed_data={"x": x, "k": counts},
        pointwise_loglik=_gp_pointwise,
        loglik_name="k",
        dims={"f_tilde": ["obs"], "f": ["obs"], "x": ["obs"], "k": ["obs"]},
        description=f"posteriordb gp_pois_regr-gp_pois_regr: latent GP, Poisson counts, N={n}",
    )


# --------------------------------------------------------------------------- linear regressions
# Prior codes of gaussian_linear_lpg (idata[2] for the coefficients, idata[3] for sigma).
_FLAT, _NORMAL, _HALF_NORMAL, _HALF_CAUCHY = 0, 1, 2, 3


@njit(cache=True, error_model="numpy")
def gaussian_linear_lpg(theta, fdata, idata):
    r"""Gaussian linear regression ``y ~ normal(X beta, sigma)``: ``theta = (beta[D], log sigma)``.

    ``idata = [N, D, beta_prior, sigma_prior]`` and ``fdata = [X (N*D, row-major), y (N),
    prior_mean (D), prior_sd (D), sigma_scale]``.  ``beta_prior`` is 0 (flat) or 1
    (``beta[j] ~ normal(prior_mean[j], prior_sd[j])``); ``sigma_prior`` is 0 (flat on
    ``sigma > 0``), 2 (half-normal(``sigma_scale``)) or 3 (half-Cauchy(``sigma_scale``)).
    """
    n, d = idata[0], idata[1]
    beta_prior, sigma_prior = idata[2], idata[3]
    x = fdata[: n * d]
    y = fdata[n * d : n * d + n]
    off = n * d + n
    g = np.zeros(d + 1)
    lp = 0.0
    if beta_prior == _NORMAL:
        for j in range(d):
            lj, dj, _, _ = normal_lpdf(theta[j], fdata[off + j], fdata[off + d + j])
            lp += lj
            g[j] = dj
    lsig = theta[d]
    sigma = math.exp(lsig)
    scale = fdata[off + 2 * d]
    gs = 1.0  # log-Jacobian of sigma = exp(u)
    if sigma_prior == _HALF_NORMAL:
        ls, ds, _ = half_normal_lpdf(sigma, scale)
        lp += ls
        gs += ds * sigma
    elif sigma_prior == _HALF_CAUCHY:
        ls, ds, _ = half_cauchy_lpdf(sigma, scale)
        lp += ls
        gs += ds * sigma
    lp += lsig
    inv_s2 = 1.0 / (sigma * sigma)
    ss = 0.0
    for i in range(n):
        row = i * d
        r = y[i]
        for j in range(d):
            r -= x[row + j] * theta[j]
        ss += r * r
        rr = r * inv_s2
        for j in range(d):
            g[j] += rr * x[row + j]
    lp += -0.5 * ss * inv_s2 - n * (lsig + _HALF_LOG_2PI)
    g[d] = gs + ss * inv_s2 - n
    return _finite(lp, g)


@njit(cache=True, error_model="numpy")
def _gaussian_linear_pointwise(theta, fdata, idata):
    n, d = idata[0], idata[1]
    x = fdata[: n * d]
    y = fdata[n * d : n * d + n]
    lsig = theta[d]
    sigma = math.exp(lsig)
    out = np.empty(n)
    for i in range(n):
        r = y[i]
        for j in range(d):
            r -= x[i * d + j] * theta[j]
        z = r / sigma
        out[i] = -0.5 * z * z - lsig - _HALF_LOG_2PI
    return out


def _linear_model(
    X,
    y,
    *,
    name,
    params,
    split,
    beta_prior,
    prior_mean,
    prior_sd,
    sigma_prior,
    sigma_scale,
    observed,
    dims,
    coords=None,
    description,
):
    n, d = X.shape
    fdata = np.concatenate([X.ravel(), y, prior_mean, prior_sd, [sigma_scale]])
    idata = np.array([n, d, beta_prior, sigma_prior])

    def constrain(b):
        out = split(b[:, :d])
        out["sigma"] = _exp(b[:, d])
        return out

    return Model(
        gaussian_linear_lpg,
        params,
        name=name,
        data=(fdata, idata),
        constrain=constrain,
        observed_data=observed,
        pointwise_loglik=_gaussian_linear_pointwise,
        loglik_name="y" if "y" in observed else next(iter(observed)),
        coords=coords,
        dims=dims,
        description=description,
    )


def kidscore_interaction(data=None) -> Model:
    """Kid's score on mother's IQ and schooling with interaction (``kidiq-kidscore_interaction``).

    Stan data ``N``, ``kid_score``, ``mom_iq``, ``mom_hs``;
    ``kid_score ~ normal(beta[1] + beta[2] mom_hs + beta[3] mom_iq + beta[4] mom_hs mom_iq,
    sigma)``, flat prior on ``beta``, ``sigma ~ half-Cauchy(2.5)``.  The pointwise
    log-likelihood is named ``kid_score``.

    Examples
    --------
    >>> kidscore_interaction().params
    {'beta': (4,), 'sigma': ()}
    """
    what = "kidscore_interaction"
    data = _data("kidiq-kidscore_interaction", data)
    score = _real(data, "kid_score", what=what)
    if score.ndim != 1 or score.size < 1:
        raise ValueError(f"data['kid_score'] must be a non-empty 1-D array for {what}")
    iq = _real(data, "mom_iq", score.shape, what=what)
    hs = _real(data, "mom_hs", score.shape, what=what)
    _size(data, "N", score.size, what=what)
    X = np.column_stack([np.ones_like(iq), hs, iq, hs * iq])
    return _linear_model(
        X,
        score,
        name="kidiq-kidscore_interaction",
        params={"beta": (4,), "sigma": ()},
        split=lambda b: {"beta": b},
        beta_prior=_FLAT,
        prior_mean=np.zeros(4),
        prior_sd=np.ones(4),
        sigma_prior=_HALF_CAUCHY,
        sigma_scale=2.5,
        observed={"kid_score": score, "mom_iq": iq, "mom_hs": hs},
        dims={"beta": ["coef"], "kid_score": ["child"], "mom_iq": ["child"], "mom_hs": ["child"]},
        coords={"coef": ["intercept", "mom_hs", "mom_iq", "mom_hs:mom_iq"]},
        description=f"posteriordb kidiq-kidscore_interaction: regression with interaction, "
        f"N={score.size}",
    )


def kilpisjarvi(data=None) -> Model:
    """Summer temperature on year at Kilpisjärvi (posteriordb ``kilpisjarvi_mod-kilpisjarvi``).

    Stan data ``N``, ``x``, ``y``, ``pmualpha``, ``psalpha``, ``pmubeta``, ``psbeta``
    (``xpred`` is unused); ``alpha ~ normal(pmualpha, psalpha)``, ``beta ~ normal(pmubeta,
    psbeta)``, ``y ~ normal(alpha + beta x, sigma)``, flat prior on ``sigma > 0``.  With
    ``x`` near 4000, ``alpha`` and ``beta`` are almost perfectly correlated a posteriori.

    Examples
    --------
    >>> kilpisjarvi().params
    {'alpha': (), 'beta': (), 'sigma': ()}
    """
    what = "kilpisjarvi"
    data = _data("kilpisjarvi_mod-kilpisjarvi", data)
    x = _real(data, "x", what=what)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"data['x'] must be a non-empty 1-D array for {what}")
    y = _real(data, "y", x.shape, what=what)
    _size(data, "N", x.size, what=what)
    pm = np.array(
        [
            float(_real(data, "pmualpha", (), what=what)),
            float(_real(data, "pmubeta", (), what=what)),
        ]
    )
    ps = np.array(
        [float(_real(data, "psalpha", (), what=what)), float(_real(data, "psbeta", (), what=what))]
    )
    _check_positive(ps, "psalpha/psbeta", what)
    return _linear_model(
        np.column_stack([np.ones_like(x), x]),
        y,
        name="kilpisjarvi_mod-kilpisjarvi",
        params={"alpha": (), "beta": (), "sigma": ()},
        split=lambda b: {"alpha": b[:, 0], "beta": b[:, 1]},
        beta_prior=_NORMAL,
        prior_mean=pm,
        prior_sd=ps,
        sigma_prior=_FLAT,
        sigma_scale=1.0,
        observed={"y": y, "x": x},
        dims={"y": ["year"], "x": ["year"]},
        description=f"posteriordb kilpisjarvi_mod-kilpisjarvi: linear trend, corr(alpha, beta) "
        f"near -1, N={x.size}",
    )


def blr(data=None) -> Model:
    """Bayesian linear regression, correlated coefficients (posteriordb ``sblrc-blr``).

    Stan data ``N``, ``D``, ``X[N, D]``, ``y[N]``; ``beta ~ normal(0, 10)``,
    ``sigma ~ half-normal(10)``, ``y ~ normal(X beta, sigma)``.

    Examples
    --------
    >>> blr().params
    {'beta': (5,), 'sigma': ()}
    """
    what = "blr"
    data = _data("sblrc-blr", data)
    X = _real(data, "X", what=what)
    if X.ndim != 2 or X.size < 1:
        raise ValueError(f"data['X'] must be a non-empty 2-D array (N, D) for {what}")
    n, d = X.shape
    y = _real(data, "y", (n,), what=what)
    _size(data, "N", n, what=what)
    _size(data, "D", d, what=what)
    return _linear_model(
        X,
        y,
        name="sblrc-blr",
        params={"beta": (d,), "sigma": ()},
        split=lambda b: {"beta": b},
        beta_prior=_NORMAL,
        prior_mean=np.zeros(d),
        prior_sd=np.full(d, 10.0),
        sigma_prior=_HALF_NORMAL,
        sigma_scale=10.0,
        observed={"y": y},
        dims={"beta": ["coef"], "y": ["obs"]},
        description=f"posteriordb sblrc-blr: linear regression, correlated coefficients, "
        f"N={n}, D={d}",
    )


# --------------------------------------------------------------------------- Gaussian mixture
@njit(cache=True, error_model="numpy")
def low_dim_gauss_mix_lpg(theta, fdata, idata):
    r"""Two-component mixture: ``theta = (mu[1], log(mu[2] - mu[1]), log sigma[2], logit theta)``.

    ``idata = [N]``, ``fdata = y (N)``.  ``mu ~ normal(0, 2)`` (ordered), ``sigma ~
    half-normal(2)``, ``theta ~ beta(5, 5)``, and per observation ``log_mix(theta,
    normal(y | mu[1], sigma[1]), normal(y | mu[2], sigma[2]))``.
    """
    n = idata[0]
    y = fdata
    m1 = theta[0]
    e12 = math.exp(theta[1])
    m2 = m1 + e12
    ls1, ls2 = theta[2], theta[3]
    s1, s2 = math.exp(ls1), math.exp(ls2)
    w = sigmoid(theta[4])
    lw, l1w = log_sigmoid(theta[4]), log_sigmoid(-theta[4])
    # priors and log-Jacobians (ordered: theta[1]; log: ls1, ls2; logit: lw + l1w)
    lp = theta[1] + ls1 + ls2 + lw + l1w
    lm1, gm1, _, _ = normal_lpdf(m1, 0.0, 2.0)
    lm2, gm2, _, _ = normal_lpdf(m2, 0.0, 2.0)
    lh1, dh1, _ = half_normal_lpdf(s1, 2.0)
    lh2, dh2, _ = half_normal_lpdf(s2, 2.0)
    lb, db, _, _ = beta_lpdf(w, 5.0, 5.0)
    lp += lm1 + lm2 + lh1 + lh2 + lb
    g_ls1 = dh1 * s1 + 1.0
    g_ls2 = dh2 * s2 + 1.0
    g_u = db * w * (1.0 - w) + 1.0 - 2.0 * w
    c1 = lw - ls1 - _HALF_LOG_2PI
    c2 = l1w - ls2 - _HALF_LOG_2PI
    i1, i2 = 1.0 / s1, 1.0 / s2
    r_sum = 0.0
    for i in range(n):
        z1 = (y[i] - m1) * i1
        z2 = (y[i] - m2) * i2
        a = c1 - 0.5 * z1 * z1
        b = c2 - 0.5 * z2 * z2
        if a >= b:
            e = math.exp(b - a)
            lse = a + math.log1p(e)
            r1 = 1.0 / (1.0 + e)
        else:
            e = math.exp(a - b)
            lse = b + math.log1p(e)
            r1 = e / (1.0 + e)
        r2 = 1.0 - r1
        lp += lse
        gm1 += r1 * z1 * i1
        gm2 += r2 * z2 * i2
        g_ls1 += r1 * (z1 * z1 - 1.0)
        g_ls2 += r2 * (z2 * z2 - 1.0)
        r_sum += r1
    g_u += r_sum - n * w  # d/du of r1 log w + r2 log(1 - w): r1 (1 - w) - r2 w
    g_mu = np.array([gm1, gm2])
    gu_mu = ordered_grad(theta[:2].copy(), g_mu)
    g = np.empty(5)
    g[0] = gu_mu[0]
    g[1] = gu_mu[1]
    g[2] = g_ls1
    g[3] = g_ls2
    g[4] = g_u
    return _finite(lp, g)


@njit(cache=True, error_model="numpy")
def _gauss_mix_pointwise(theta, fdata, idata):
    n = idata[0]
    m1 = theta[0]
    m2 = m1 + math.exp(theta[1])
    c1 = log_sigmoid(theta[4]) - theta[2] - _HALF_LOG_2PI
    c2 = log_sigmoid(-theta[4]) - theta[3] - _HALF_LOG_2PI
    i1, i2 = math.exp(-theta[2]), math.exp(-theta[3])
    out = np.empty(n)
    for i in range(n):
        z1 = (fdata[i] - m1) * i1
        z2 = (fdata[i] - m2) * i2
        a = c1 - 0.5 * z1 * z1
        b = c2 - 0.5 * z2 * z2
        hi = max(a, b)
        out[i] = hi + math.log1p(math.exp(min(a, b) - hi))
    return out


def low_dim_gauss_mix(data=None) -> Model:
    """Two-component Gaussian mixture with ordered means (``low_dim_gauss_mix-low_dim_gauss_mix``).

    Stan data ``N``, ``y[N]``.  Parameters ``mu[2]`` (ordered), ``sigma[2] > 0`` and the
    weight ``0 < theta < 1`` of the first component.

    Examples
    --------
    >>> m = low_dim_gauss_mix()
    >>> bool(m.constrain([0.0, 0.0, 0.0, 0.0, 0.0])["mu"][1] == 1.0)
    True
    """
    what = "low_dim_gauss_mix"
    data = _data("low_dim_gauss_mix-low_dim_gauss_mix", data)
    y = _real(data, "y", what=what)
    if y.ndim != 1 or y.size < 1:
        raise ValueError(f"data['y'] must be a non-empty 1-D array for {what}")
    _size(data, "N", y.size, what=what)

    def constrain(b):
        mu = np.empty((b.shape[0], 2))
        mu[:, 0] = b[:, 0]
        mu[:, 1] = b[:, 0] + _exp(b[:, 1])
        return {"mu": mu, "sigma": _exp(b[:, 2:4]), "theta": _expit(b[:, 4])}

    return Model(
        low_dim_gauss_mix_lpg,
        {"mu": (2,), "sigma": (2,), "theta": ()},
        name="low_dim_gauss_mix-low_dim_gauss_mix",
        data=(y, np.array([y.size])),
        constrain=constrain,
        observed_data={"y": y},
        pointwise_loglik=_gauss_mix_pointwise,
        loglik_name="y",
        dims={"mu": ["component"], "sigma": ["component"], "y": ["obs"]},
        description=f"posteriordb low_dim_gauss_mix-low_dim_gauss_mix: two-component mixture, "
        f"ordered means, N={y.size}",
    )


#: posterior name -> (factory, short alias)
POSTERIORDB_MODELS = {
    "arK-arK": (ark, "arK"),
    "garch-garch11": (garch11, "garch11"),
    "gp_pois_regr-gp_pois_regr": (gp_pois_regr, "gp_pois_regr"),
    "kidiq-kidscore_interaction": (kidscore_interaction, "kidscore_interaction"),
    "kilpisjarvi_mod-kilpisjarvi": (kilpisjarvi, "kilpisjarvi"),
    "low_dim_gauss_mix-low_dim_gauss_mix": (low_dim_gauss_mix, "low_dim_gauss_mix"),
    "sblrc-blr": (blr, "blr"),
}
