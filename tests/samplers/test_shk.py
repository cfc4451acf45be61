"""SHK / birth-death Langevin: kernels against NumPy references and the flow's known answers.

Known answers (spec samplers.md section 2.7 as corrected by 2.10):
* Gaussian moment ODE of the SHK flow, ``dmu/dt = -(a + b v)(mu - m)/s^2``,
  ``dv/dt = (2a + b v)(1 - v/s^2)``, and the OU ODE for plain Langevin (``b = 0``);
* pure birth-death (``a = 0``) between unit Gaussians: mean ``1 - exp(-t)``;
* mode rebalancing with barrier-independent time to 0.7 (``b = 1``: ln(ln 27 / ln(9/7)) = 2.57);
* stationarity from exact draws, variance ``1 - h^2/3``.
Tolerances scale with ``N`` as the spec's corrections state (MC / resampling noise).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from geobayes.math.kde import (
    binned_kernel_sums_1d,
    kde_blob_term,
    kde_log_density,
    knn_bandwidth,
    silverman_bandwidth,
)
from geobayes.models.mixture import gaussian_mixture
from geobayes.samplers import shk as S


@pytest.fixture(autouse=True)
def _one_numba_thread():
    """Run the statistical tests on one Numba thread.

    Their 1-D steps are tiny, so a parallel region's launch dominates them, and on an
    oversubscribed machine two spinning OpenMP threads made them 10-20x slower.  Results
    do not depend on the thread count (``test_bit_identical_across_thread_counts``
    switches threads itself).
    """
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)


def _params(a=1.0, b=1.0, dt=1e-2, bw=S.BW_SILVERMAN, h_scale=1.0, rate=S.RATE_KDE,
            include_self=True, strang=False, pmax=1.0, knn=32, cutoff=np.inf, per_h=32,
            h_fixed=None, d=1):  # fmt: skip
    p = np.zeros(S.N_PARAMS + d)
    p[S.P_A], p[S.P_B], p[S.P_DT] = a, b, dt
    p[S.P_BW], p[S.P_HSCALE], p[S.P_RATE] = bw, h_scale, rate
    p[S.P_SELF], p[S.P_SPLIT], p[S.P_PMAX] = float(include_self), float(strang), pmax
    p[S.P_KNN], p[S.P_CUTOFF], p[S.P_BIN] = knn, cutoff, per_h
    p[S.N_PARAMS :] = 1.0 if h_fixed is None else h_fixed
    return p


def _run(model, x0, params, n_steps, seed, record=None, check_copies=False):
    """Drive ``shk_step`` for ``n_steps``; ``record(x, it)`` is called after every step."""
    x = np.ascontiguousarray(x0, dtype=float).copy()
    n, d = x.shape
    w = np.full(n, 1.0 / n)
    aux = np.zeros(S.aux_size(n, d))
    stats = np.zeros((n_steps, S.N_FIXED_STATS + S.N_SHK_STATS))
    rng = np.random.default_rng(seed)
    for it in range(n_steps):
        before = x.copy()
        S.shk_step(rng, x, w, aux, model.lpg, model.fdata, model.idata, params, stats[it])
        assert x.shape == (n, d)
        if check_copies:  # no transport: every position must be one of the previous ones
            pre = {tuple(r) for r in before}
            assert all(tuple(r) in pre for r in x)
        if record is not None:
            record(x, it)
    return x, stats


def _ref_log_kde(x, h, include_self=True):
    diff = (x[:, None, :] - x[None, :, :]) / h
    logk = -0.5 * (diff**2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi) - np.log(h).sum()
    if not include_self:
        np.fill_diagonal(logk, -np.inf)
    n_eff = x.shape[0] - (0 if include_self else 1)
    m = logk.max(1, keepdims=True)
    return (m + np.log(np.exp(logk - m).sum(1, keepdims=True)))[:, 0] - math.log(n_eff)


# ---- KDE maths --------------------------------------------------------------------------


@pytest.mark.parametrize("include_self", [True, False])
def test_kde_matches_reference(include_self):
    rng = np.random.default_rng(0)
    x = np.ascontiguousarray(rng.standard_normal((300, 3)) * [1.0, 2.0, 0.5])
    h = np.array([0.3, 0.5, 0.2])
    ref = _ref_log_kde(x, h, include_self)
    out = np.empty(300)
    kde_log_density(x, h, include_self, out, np.inf, 0)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    kde_log_density(x, h, include_self, out, 9.0, 0)  # windowed: omitted terms < 3e-18
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)
    # blob term: (1/N') sum_j K(x_j - x_i) / rho_j
    k = np.exp(_pairwise_logk(x, h))
    if not include_self:
        np.fill_diagonal(k, 0.0)
    blob_ref = (k / np.exp(ref)[None, :]).sum(1) / (300 - (0 if include_self else 1))
    blob = np.empty(300)
    kde_blob_term(x, h, include_self, ref, blob, np.inf, 0)
    np.testing.assert_allclose(blob, blob_ref, rtol=1e-10)


def _pairwise_logk(x, h):
    diff = (x[:, None, :] - x[None, :, :]) / h
    return -0.5 * (diff**2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi) - np.log(h).sum()


@pytest.mark.parametrize("include_self", [True, False])
def test_binned_kde_matches_exact_1d(include_self):
    rng = np.random.default_rng(1)
    x = np.ascontiguousarray(np.concatenate([rng.normal(-3, 0.5, 700), rng.normal(3, 0.5, 300)]))
    x = x[:, None]
    h = np.array([0.15])
    exact = np.empty(1000)
    binned = np.empty(1000)
    kde_log_density(x, h, include_self, exact, np.inf, 0)
    kde_log_density(x, h, include_self, binned, 9.0, 32)
    # linear binning at h/32: error O((delta/h)^2) ~ 1e-3 at worst; without the self term an
    # isolated particle loses digits to the subtraction of its own binned weight
    np.testing.assert_allclose(binned, exact, rtol=5e-4, atol=2e-3)
    assert np.abs(binned - exact).max() > 0  # the binned path really ran
    # a grid larger than 64 N points refuses (caller falls back to the pairwise sum)
    far = np.ascontiguousarray([[0.0], [1e6]])
    assert not binned_kernel_sums_1d(far, 0.1, np.ones(2), True, 9.0, 32, np.empty(2))


def test_bandwidth_rules():
    rng = np.random.default_rng(2)
    x = np.ascontiguousarray(rng.standard_normal((2000, 2)) * [1.0, 3.0])
    h = np.empty(2)
    silverman_bandwidth(x, 1.0, h)
    factor = (4 / (4 * 2000)) ** (1 / 6)
    np.testing.assert_allclose(h, x.std(0, ddof=1) * factor, rtol=1e-12)
    knn_bandwidth(x, 2.0, 10, h)
    sub = x[:: 2000 // 512][:512]
    d2 = ((sub[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    kth = np.sqrt(np.sort(d2, axis=1)[:, 10])  # column 0 is the particle itself
    np.testing.assert_allclose(h, 2.0 * np.median(kth), rtol=1e-12)


# ---- events -----------------------------------------------------------------------------


def test_events_keep_count_and_copy_positions():
    rng = np.random.default_rng(3)
    n, d = 400, 2
    x = np.ascontiguousarray(rng.standard_normal((n, d)))
    lp = -0.5 * (x**2).sum(1)
    g = -x.copy()
    beta = rng.standard_normal(n) * 5
    beta -= beta.mean()
    pre = x.copy()
    births, deaths, capped = S.shk_events(rng, x, lp, g, beta, 0.5, 1.0, np.empty(n, bool))
    assert x.shape == (n, d) and capped == 0
    rows = {tuple(r): i for i, r in enumerate(pre)}
    src = np.array([rows[tuple(r)] for r in x])  # every row is a copy of a pre-event row
    np.testing.assert_array_equal(lp, -0.5 * (pre[src] ** 2).sum(1))  # lp/grad travel along
    np.testing.assert_array_equal(g, -pre[src])
    changed = int(np.sum(src != np.arange(n)))
    # (an overwrite with an identical copy leaves a row unchanged)
    assert births + deaths >= changed > 0.3 * n
    # kills happen where beta > 0 and duplications where beta < 0, at rate 1 - exp(-b|beta|dt)
    expected = np.sum(1 - np.exp(-0.5 * np.abs(beta)))
    assert abs((births + deaths) - expected) < 4 * math.sqrt(expected) + 0.1 * expected
    # cap binds and is counted
    _, _, capped = S.shk_events(rng, x, lp, g, beta, 0.5, 0.05, np.empty(n, bool))
    assert capped > 0


def test_pure_birth_death_only_copies():
    m = gaussian_mixture([1.0], [[1.0]], [1.0])
    x0 = np.random.default_rng(4).standard_normal((300, 1))
    x, stats = _run(m, x0, _params(a=0.0, dt=0.05), 20, seed=5, check_copies=True)
    assert stats[:, S.N_FIXED_STATS + 0].sum() > 0 and stats[:, S.N_FIXED_STATS + 1].sum() > 0
    assert np.all(stats[1:, 1] == 0)  # a = 0 after the first evaluation: no model calls
    assert stats[0, 1] == 300


def test_z_invariance():
    """Adding a constant to log pi changes neither the rates nor the trajectory."""
    m1 = gaussian_mixture([0.3, 0.7], [[-1.0, 0.0], [1.5, 0.5]], [0.7, 0.5])
    m2 = gaussian_mixture([0.3, 0.7], [[-1.0, 0.0], [1.5, 0.5]], [0.7, 0.5])
    k = 2
    m2.fdata = m2.fdata.copy()
    m2.fdata[:k] += 123.456  # log weights + c  =>  log pi~ + c
    x0 = np.random.default_rng(6).uniform(-3, 3, (400, 2))
    lp1 = np.array([m1.lpg(r, m1.fdata, m1.idata)[0] for r in x0])
    lp2 = np.array([m2.lpg(r, m2.fdata, m2.idata)[0] for r in x0])
    np.testing.assert_allclose(lp2 - lp1, 123.456, rtol=1e-12)
    b1, b2 = np.empty(400), np.empty(400)
    h = np.array([0.4, 0.4])
    S.shk_rates(x0, lp1, h, S.RATE_KDE, True, b1, np.empty(400), np.inf, 0)
    S.shk_rates(x0, lp2, h, S.RATE_KDE, True, b2, np.empty(400), np.inf, 0)
    np.testing.assert_allclose(b1, b2, rtol=0, atol=1e-10)
    p = _params(dt=0.02, d=2)
    x1, s1 = _run(m1, x0, p, 30, seed=7)
    x2, s2 = _run(m2, x0, p, 30, seed=7)
    np.testing.assert_allclose(x1, x2, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(s1[:, 2:4], s2[:, 2:4])  # same events


# ---- the flow's known answers -----------------------------------------------------------


def _moment_ode(mu0, v0, m, s2, a, b, t_end, dt=1e-4):
    out = [(0.0, mu0, v0)]
    mu, v, t = mu0, v0, 0.0
    f = lambda mu, v: (-(a + b * v) * (mu - m) / s2, (2 * a + b * v) * (1 - v / s2))  # noqa: E731
    while t < t_end - 1e-12:
        k1 = f(mu, v)
        k2 = f(mu + 0.5 * dt * k1[0], v + 0.5 * dt * k1[1])
        k3 = f(mu + 0.5 * dt * k2[0], v + 0.5 * dt * k2[1])
        k4 = f(mu + dt * k3[0], v + dt * k3[1])
        mu += dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        v += dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        t += dt
        out.append((t, mu, v))
    return np.array(out)


@pytest.mark.parametrize("b", [1.0, 0.0])
def test_gaussian_moment_ode(b):
    """BD-Langevin tracks the SHK moment ODE, plain Langevin (b = 0) the OU one."""
    n, dt, m, s = 4000, 1e-2, 2.0, 0.5
    model = gaussian_mixture([1.0], [[m]], [s])
    x0 = np.random.default_rng(8).standard_normal((n, 1))
    times = [0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0]
    steps = {round(t / dt) - 1: t for t in times}
    got = {}
    _run(model, x0, _params(b=b, dt=dt), round(3.0 / dt), seed=9,
         record=lambda x, it: got.__setitem__(steps[it], (x.mean(), x.var())) if it in steps
         else None)  # fmt: skip
    ode = _moment_ode(x0.mean(), x0.var(), m, s * s, 1.0, b, 3.0)
    other = _moment_ode(x0.mean(), x0.var(), m, s * s, 1.0, 1.0 - b, 3.0)
    for t in times:
        row = ode[np.argmin(np.abs(ode[:, 0] - t))]
        mean, var = got[t]
        sd = math.sqrt(row[2])
        assert abs(mean - row[1]) <= 4 / math.sqrt(n) * max(1.0, sd), (t, mean, row)
        assert abs(var / row[2] - 1) <= 5 * math.sqrt(2 / n), (t, var, row)
        if t <= 0.3:  # the two mechanisms are told apart by the early mean
            orow = other[np.argmin(np.abs(other[:, 0] - t))]
            assert abs(mean - orow[1]) > 4 / math.sqrt(n) * max(1.0, sd)


def test_pure_birth_death_mean():
    """a = 0 from N(0,1) to pi = N(1,1): mean 1 - exp(-t), variance 1 - h^2 at the end."""
    n, dt = 5000, 5e-2
    model = gaussian_mixture([1.0], [[1.0]], [1.0])
    x0 = np.random.default_rng(10).standard_normal((n, 1))
    means = np.empty(100)
    x, stats = _run(model, x0, _params(a=0.0, dt=dt), 100, seed=11,
                    record=lambda x, it: means.__setitem__(it, x.mean()))  # fmt: skip
    t = dt * np.arange(1, 101)
    err = np.abs(means - (1 - np.exp(-t)) - (x0.mean() * np.exp(-t)))
    assert err.max() <= 0.05 * math.sqrt(5000 / n), err.max()
    h = stats[-1, S.N_FIXED_STATS + 3]
    assert abs(x.var() - (1 - h * h)) <= 4 * math.sqrt(2 / n) + 0.02


def _two_modes(n, c, seed):
    rng = np.random.default_rng(seed)
    k = int(0.9 * n)
    return np.concatenate([rng.normal(-c, 0.5, k), rng.normal(c, 0.5, n - k)])[:, None]


def _fraction_path(c, a, b, n=1000, t_end=20.0, dt=1e-2, seed=12):
    model = gaussian_mixture([0.25, 0.75], [[-c], [c]], [0.5, 0.5])
    frac = np.empty(round(t_end / dt))
    _run(model, _two_modes(n, c, seed), _params(a=a, b=b, dt=dt), len(frac), seed=seed + 1,
         record=lambda x, it: frac.__setitem__(it, np.mean(x[:, 0] > 0)))  # fmt: skip
    return dt * np.arange(1, len(frac) + 1), frac


def test_mode_rebalancing_barrier_independent():
    t, f_bd = _fraction_path(3.0, 1.0, 1.0)
    _, f_l = _fraction_path(3.0, 1.0, 0.0)
    assert np.all(np.abs(f_l - 0.10) <= 0.03), (f_l.min(), f_l.max())  # Langevin stuck
    late = f_bd[t >= 10.0]
    assert late.min() >= 0.70 and late.max() <= 0.80, (late.min(), late.max())
    t07 = t[np.argmax(f_bd >= 0.7)]
    assert 1.8 <= t07 <= 3.6, t07  # predicted ln(ln 27 / ln(9/7)) = 2.57
    # doubled barrier: same birth-death time, Langevin still stuck
    _, f_bd2 = _fraction_path(4.5, 1.0, 1.0, t_end=10.0)
    _, f_l2 = _fraction_path(4.5, 1.0, 0.0, t_end=10.0)
    t07_2 = t[np.argmax(f_bd2 >= 0.7)]
    assert abs(t07_2 / t07 - 1) < 0.3, (t07, t07_2)
    assert np.all(np.abs(f_l2 - 0.10) <= 0.03)
    # pure birth-death reaches the same mode fractions (only fractions: modes collapse)
    _, f_pure = _fraction_path(3.0, 0.0, 1.0, t_end=10.0)
    assert abs(f_pure[-1] - 0.75) <= 0.05, f_pure[-1]


def test_stationarity_from_exact_draws():
    n = 4000
    model = gaussian_mixture([1.0], [[0.0]], [1.0])
    x0 = np.random.default_rng(14).standard_normal((n, 1))
    x, stats = _run(model, x0, _params(dt=1e-2), 500, seed=15)
    h = stats[-1, S.N_FIXED_STATS + 3]
    assert abs(x.mean()) <= 4 / math.sqrt(n)
    ula = 1 / (1 - 0.5e-2)  # ULA's stationary variance for N(0,1) at dt = 0.01
    assert abs(x.var() - (ula - h * h / 3)) <= 4 * math.sqrt(2 / n)


# ---- the bias-corrected rate (Pampel et al., spec 2.3) ---------------------------------


def _log_smoothed_mixture(x, w, mu, sd, h):
    """Exact ``log (K_h * pi)(x)`` for an isotropic Gaussian mixture: variances ``sd^2 + h^2``."""
    from scipy.special import logsumexp

    v = np.asarray(sd)[:, None] ** 2 + np.asarray(h)[None, :] ** 2
    d2 = ((x[:, None, :] - np.asarray(mu)[None]) ** 2 / v[None]).sum(-1)
    lc = np.log(w)[None, :] - 0.5 * d2 - 0.5 * np.log(2 * np.pi * v).sum(-1)[None]
    return logsumexp(lc, axis=1)


@pytest.mark.parametrize(
    "w, mu, sd, h",
    [
        ([1.0], [[2.0]], [0.5], [0.3]),  # steep tails: the window must follow the gradient
        ([0.25, 0.75], [[-3.0], [3.0]], [0.5, 0.5], [0.4]),
        ([0.3, 0.7], [[-1.0, 0.0], [1.5, 0.5]], [0.7, 0.5], [0.3, 0.5]),
    ],
)
def test_smoothed_target_matches_analytic(w, mu, sd, h):
    """Grid quadrature of ``log (K_h * pi~)`` at the particles vs the closed form."""
    m = gaussian_mixture(w, mu, sd)
    d = len(mu[0])
    x = np.ascontiguousarray(np.random.default_rng(20).uniform(-4, 4, (400, d)))
    g = np.array([m.lpg(r, m.fdata, m.idata)[1] for r in x])
    out = np.empty(400)
    n_grid = S.shk_log_smoothed_target(x, g, np.array(h, float), m.lpg, m.fdata, m.idata, out)
    assert n_grid > 0
    diff = out - _log_smoothed_mixture(x, np.array(w), mu, sd, h)
    assert np.ptp(diff) < 1e-8, np.ptp(diff)  # equal up to one constant (dropped by centring)


def _gauss_fr_ode(mu0, v0, m, s2, h2, corrected, t_end, dt=1e-3):
    """Pure birth-death (a = 0, b = 1) with a KDE of bandwidth h, Gaussian rho and pi.

    The KDE is ``N(mu, v + h^2)``; the plain rate compares it with ``pi`` (equilibrium
    variance ``s^2 - h^2``), the corrected one with ``K_h * pi = N(m, s^2 + h^2)``
    (equilibrium ``pi`` itself).  Natural parameters: ``dlam/dt = -(1/(v+h^2) - 1/c)``,
    ``d(lam mu)/dt = -(mu/(v+h^2) - m/c)``, ``c = s^2 + h^2`` or ``s^2``.
    """
    c = s2 + h2 if corrected else s2
    lam, lm, t, out = 1 / v0, mu0 / v0, 0.0, []
    while t < t_end - 1e-12:
        v, mu = 1 / lam, lm / lam
        lam, lm = lam - dt * (1 / (v + h2) - 1 / c), lm - dt * (mu / (v + h2) - m / c)
        t += dt
        out.append((lm / lam, 1 / lam))
    return np.array(out)


def test_kde_corrected_removes_the_variance_bias():
    """Pure birth-death N(0,1) -> N(1,1) with h = 0.5: the corrected rate keeps variance 1,
    the plain KDE rate shrinks it to 1 - h^2 = 0.75; each follows its own moment ODE."""
    n, dt, h = 5000, 5e-2, 0.5
    model = gaussian_mixture([1.0], [[1.0]], [1.0])
    x0 = np.random.default_rng(10).standard_normal((n, 1))
    every = round(dt / 1e-3)
    tol_mean = 0.05 * math.sqrt(5000 / n)
    tol_var = 4 * math.sqrt(2 / n) + 0.02
    final = {}
    for rate, corrected in ((S.RATE_CORRECTED, True), (S.RATE_KDE, False)):
        mv = np.empty((100, 2))
        p = _params(a=0.0, dt=dt, bw=S.BW_FIXED, h_fixed=h, rate=rate)

        def rec(x, it, mv=mv):
            mv[it] = x.mean(), x.var()

        _, stats = _run(model, x0, p, 100, seed=11, record=rec)
        ode = _gauss_fr_ode(x0.mean(), x0.var(), 1.0, 1.0, h * h, corrected, 5.0)
        ode = ode[every - 1 :: every]
        assert np.abs(mv[:, 0] - ode[:, 0]).max() <= tol_mean, (rate, mv[-1], ode[-1])
        assert np.abs(mv[:, 1] - ode[:, 1]).max() <= tol_var, (rate, mv[-1], ode[-1])
        final[corrected] = mv[-1, 1]
        if corrected:  # the grid evaluations of the target are counted
            assert np.all(stats[1:, 1] > 0)
    assert abs(final[True] - 1.0) <= tol_var and abs(final[False] - 0.75) <= tol_var
    assert final[True] - final[False] > 2 * tol_var  # the two rates are told apart


def test_bit_identical_across_thread_counts():
    model = gaussian_mixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.5]], [0.5, 0.5])
    x0 = np.random.default_rng(16).uniform(-3, 3, (600, 2))
    p = _params(dt=0.02, d=2, bw=S.BW_KNN, rate=S.RATE_BLOB, strang=True)
    pc = _params(dt=0.02, d=2, rate=S.RATE_CORRECTED)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        x1, s1 = _run(model, x0, p, 15, seed=17)
        xc1, sc1 = _run(model, x0[:300], pc, 5, seed=17)
        numba.set_num_threads(max(2, old))
        x2, s2 = _run(model, x0, p, 15, seed=17)
        xc2, sc2 = _run(model, x0[:300], pc, 5, seed=17)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(xc1, xc2)
    np.testing.assert_array_equal(sc1, sc2)
    x3, _ = _run(model, x0, p, 15, seed=18)
    assert not np.array_equal(x1, x3)


def test_pure_dp_epsilon():
    assert S.shk_pure_dp_epsilon(0.0, 1.0) == 0.0
    np.testing.assert_allclose(S.shk_pure_dp_epsilon([1.0, 2.0], 2.0, b=0.5),
                               2 * (1 - np.exp(-0.5 * np.array([1.0, 2.0]))))  # fmt: skip
    # the derivation: the pure-reaction flow is rho_t ~ rho_0^(e^-bt) pi^(1-e^-bt); on a grid,
    # two potentials differing by at most eps/2 give sup|log rho_t/rho'_t| <= the bound
    z = np.linspace(-8, 8, 4001)
    eps, b = 1.5, 0.7
    v1 = 0.5 * (z - 1) ** 2
    v2 = v1 + 0.5 * eps * np.sin(3 * z)  # sup |V - V'| = eps / 2
    for t in [0.1, 1.0, 5.0]:
        e = math.exp(-b * t)
        l1 = -e * 0.5 * z**2 - (1 - e) * v1
        l2 = -e * 0.5 * z**2 - (1 - e) * v2
        l1 -= np.log(np.exp(l1).sum())
        l2 -= np.log(np.exp(l2).sum())
        gap = np.abs(l1 - l2).max()
        assert gap <= S.shk_pure_dp_epsilon(t, eps, b) + 1e-12
        assert gap >= 0.5 * S.shk_pure_dp_epsilon(t, eps, b)  # and it is not vacuous
    for bad in [dict(t=-1, epsilon=1), dict(t=1, epsilon=0), dict(t=1, epsilon=1, b=0)]:
        with pytest.raises(ValueError):
            S.shk_pure_dp_epsilon(**bad)


# ---- the user path: geobayes.sample, the trace, bad input, the CLI ------------------------


def test_sample_trace_and_reproducibility():
    import geobayes
    from geobayes.samplers import SHK

    kw = dict(method="shk", n_particles=300, n_steps=40, chains=2, seed=3, progress=False)
    tr = geobayes.sample("mixture_2d", particle_history=True, **kw)
    assert tr.posterior["x"].shape == (2, 300, 2)
    ss = tr.sample_stats
    for name in ("n_births", "n_deaths", "mean_log_ratio", "bandwidth", "n_evals"):
        assert ss[name].dims == ("chain", "iteration") and ss[name].shape == (2, 40)
    assert ss["n_births"].values.sum() > 0 and ss["n_deaths"].values.sum() > 0
    assert not tr.attrs["weighted"] and "weight" not in ss  # equally weighted draws
    assert tr["particle_history"]["theta"].shape == (2, 40, 300, 2)
    np.testing.assert_array_equal(
        tr["particle_history"]["theta"].values[:, -1], tr.posterior["x"].values
    )
    assert tr.attrs["method"] == "shk"
    # the mean log-ratio (KL(rho|pi) - log Z estimate) decreases from the overdispersed start
    mlr = ss["mean_log_ratio"].values
    assert np.all(mlr[:, -5:].mean(1) < mlr[:, :5].mean(1))
    # same seed -> same particles whatever the number of replicate threads
    tr1 = geobayes.sample("mixture_2d", cores=1, **kw)
    tr2 = geobayes.sample("mixture_2d", cores=2, **kw)
    np.testing.assert_array_equal(tr1.posterior["x"].values, tr2.posterior["x"].values)
    np.testing.assert_array_equal(tr1.posterior["x"].values, tr.posterior["x"].values)
    # b = 0 is plain ULA with the same particles: no events, no KDE
    tr0 = geobayes.sample("mixture_2d", method=SHK(n_particles=50, n_steps=5, b=0.0),
                          chains=1, seed=1, progress=False)  # fmt: skip
    assert tr0.sample_stats["n_births"].values.sum() == 0
    assert np.all(np.isnan(tr0.sample_stats["mean_log_ratio"].values))
    # the corrected rate on a 2-D model: its grid evaluations of the target are counted
    corrected = SHK(n_particles=100, n_steps=3, rate="kde_corrected")
    trc = geobayes.sample("mixture_2d", method=corrected, chains=1, seed=1, progress=False)
    assert np.all(trc.sample_stats["n_evals"].values[:, 1:] > 100)
    assert trc.sample_stats["n_deaths"].values.sum() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(step_size=0.0), "step_size"),
        (dict(step_size=-1.0), "step_size"),
        (dict(a=0.0, b=0.0), "a and b are both 0"),
        (dict(a=-1.0), "a must"),
        (dict(bandwidth=0.0), "bandwidth"),
        (dict(bandwidth=-0.5), "bandwidth"),
        (dict(bandwidth="scott"), "bandwidth"),
        (dict(h_scale=0.0), "h_scale"),
        (dict(n_particles=5), "n_particles"),
        (dict(rate="fancy"), "rate"),
        (dict(splitting="yoshida"), "splitting"),
        (dict(max_event_prob=1.5), "max_event_prob"),
        (dict(knn=0), "knn"),
        (dict(kde="fft"), "kde"),
    ],
)
def test_bad_input(kwargs, match):
    from geobayes.samplers import SHK

    with pytest.raises(ValueError, match=match):
        SHK(**kwargs)


def test_bad_input_needs_the_model():
    import geobayes
    from geobayes.samplers import SHK

    with pytest.raises(ValueError, match="too few for a kernel density estimate"):
        geobayes.sample("gaussian", method=SHK(n_particles=12), chains=1, progress=False)
    with pytest.raises(ValueError, match="1 or 2 widths"):
        geobayes.sample("mixture_2d", method=SHK(bandwidth=[0.1, 0.2, 0.3]), progress=False)
    with pytest.raises(ValueError, match="1-D"):
        geobayes.sample("mixture_2d", method=SHK(kde="binned"), progress=False)
    from geobayes.models.gaussian import gaussian

    with pytest.raises(ValueError, match="kde_corrected.*dim <= 2"):
        geobayes.sample(gaussian(dim=3), method=SHK(rate="kde_corrected"), progress=False)
    with pytest.raises(ValueError, match="grid"):  # 8e4 bandwidths per side in 2-D
        geobayes.sample("mixture_2d", chains=1, progress=False,
                        method=SHK(rate="kde_corrected", bandwidth=1e-4, n_particles=20,
                                   n_steps=2))  # fmt: skip


def test_cli_sample_shk(tmp_path, capsys):
    from geobayes.cli.main import main

    rc = main(["sample", "mixture_2d", "--method", "shk", "--n-particles", "200", "--n-steps",
               "20", "--seed", "1", "--no-progress"])  # fmt: skip
    out = capsys.readouterr()
    assert rc in (0, None), out.err
    assert "shk" in out.out.lower() or "x[" in out.out
    rc = main(["sample", "mixture_2d", "--method", "shk", "--param", "step_size=-1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and "step_size" in err


def test_badly_scaled_gaussian_with_the_default_move():
    # issue 11 / the posteriordb grid: with the plain ULA step (dt = 0.01) SHK diverged on
    # arK (errors of 1e42 sds) and gp_pois_regr, whose coordinates differ in scale by orders
    # of magnitude.  Known answer: N(mu, diag(sd^2)) with sd = 1e-2 .. 1e2 (the 1e-2
    # coordinate makes ULA's dt * L = 100 > 2).  The default move (diagonal preconditioner,
    # MALA, adapted step) must meet mean and sd within Z = 4 errors of N/4 independent
    # draws (events copy particles, so the ensemble holds fewer than N independent ones),
    # allowing the KDE rate's variance bias of about -h^2/3 (spec 2.10.6).
    import geobayes
    from geobayes.models.gaussian import gaussian_from_moments

    sds = 10.0 ** np.arange(-2, 3)
    mean = 0.5 * sds
    model = gaussian_from_moments(mean, sds**2, name="scaled")
    n = 300
    kw = dict(method="shk", n_particles=n, n_steps=300, chains=1, progress=False)
    tr = geobayes.sample(model, seed=0, **kw)
    x = tr.posterior["x"].values[0]
    n_eff = n / 4
    err = np.abs(x.mean(0) - mean) / sds
    assert np.all(err < 4 / math.sqrt(n_eff)), err
    h = float(tr.sample_stats["bandwidth"].values[0, -1])  # on the raw scale: use the rule's
    bias = (4 / ((5 + 2) * n)) ** (2 / 9) / 3  # -h^2/3 in standardized units (Silverman)
    ratio = x.std(0) / sds
    tol = 4 * math.sqrt(1 / (2 * n_eff))
    assert np.all(np.abs(ratio - math.sqrt(1 - bias)) < tol), (ratio, h)
    ss = tr.sample_stats
    assert ss["diverging"].values.sum() == 0
    acc = ss["acceptance"].values[0, -50:].mean()
    assert 0.4 < acc < 0.75, acc  # the step adapts to MALA's 0.574
    # thread-count independence of the MALA move (its uniforms are drawn serially)
    short = dict(kw, n_steps=15)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(2 if numba.config.NUMBA_NUM_THREADS >= 2 else 1)
        t2 = geobayes.sample(model, seed=1, **short)
        numba.set_num_threads(1)
        t1 = geobayes.sample(model, seed=1, **short)
    finally:
        numba.set_num_threads(before)  # later tests run with the process's thread count
    np.testing.assert_array_equal(t1.posterior["x"].values, t2.posterior["x"].values)
