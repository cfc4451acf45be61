"""The LETKF's automatic defaults (issue 18): batches, taper cut, factorization, threads.

Each automatic choice replaces a setting that was the default before (one analysis
per component, every observation with a non-zero taper coefficient, the ``N x N``
factorization whenever ``m >= N``); these tests check that the replacement gives the
same analysis (to round-off, or to less than the cut) and the same RMSE (to Monte
Carlo error over truths), and that results stay bit-identical whatever the thread
count and batch size.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from geobayes.filters import LETKF, configs
from geobayes.filters import enkf as K
from geobayes.filters import filter as run_filter
from geobayes.filters._localization import auto_batch_size, local_obs_sets
from geobayes.filters.api import letkf_batch_size
from tests._stats import Z_MCSE

D = 40
RADIUS = 4.0


@pytest.fixture(scope="module")
def l96():
    return configs.sakov2008().ssm


@pytest.fixture(scope="module")
def forecasts(l96):
    """A realistic L96 forecast ensemble (N = 10 and 40) after 60 LETKF cycles."""
    x, y = l96.simulate(61, seed=1)
    out = {}
    for N in (10, 40):
        t = run_filter(
            l96, y[:60], LETKF(ensemble_size=N, inflation=1.04), seed=2, store="ensemble"
        )
        E = np.ascontiguousarray(t.posterior["ensemble"].values[0, :, -1, :])
        K.forecast_members(E, 0, 0.0, l96.dt, l96.steps_per_obs, l96.step, l96.step_data)
        out[N] = (E, np.ascontiguousarray(E.copy()), y[60])
    return out


def _analysis(E, Eo, y, batch, cut, space):
    bp, ip, ind, sq = local_obs_sets(np.arange(D), np.arange(D), float(D), RADIUS, "gc", batch, cut)
    return K.letkf_analysis_space(E, Eo, y, np.eye(D), bp, ip, ind, sq, space)


def test_automatic_batch_is_dappers_on_lorenz96(l96):
    assert auto_batch_size(l96.state_coords, RADIUS) == 2
    assert letkf_batch_size(LETKF(localization_radius=RADIUS), l96) == 2
    assert letkf_batch_size(LETKF(localization_radius=RADIUS, batch_size=1), l96) == 1
    assert auto_batch_size(np.arange(D), 2.0) == 1
    assert auto_batch_size(np.array([0.0, 1.0, 3.0, 4.0]), RADIUS) == 1  # irregular grid


@pytest.mark.parametrize("N", [10, 40])
@pytest.mark.parametrize("batch", [1, 2])
def test_taper_cut_changes_the_analysis_by_less_than_the_cut(forecasts, N, batch):
    E, Eo, y = forecasts[N]
    full = _analysis(E, Eo, y, batch, 0.0, K.SPACE_AUTO)
    cut = _analysis(E, Eo, y, batch, 1e-3, K.SPACE_AUTO)
    increment = np.abs(full - E).max()
    change = np.abs(cut - full).max()
    assert change > 0  # observations were dropped
    assert change < 1e-3 * increment
    # a cut far above DAPPER's does change the analysis by more (the check can fail)
    coarse = _analysis(E, Eo, y, batch, 0.3, K.SPACE_AUTO)
    assert np.abs(coarse - full).max() > 1e-2 * increment


@pytest.mark.parametrize("N", [10, 40])
def test_both_factorizations_give_the_same_analysis(forecasts, N):
    E, Eo, y = forecasts[N]
    ens = _analysis(E, Eo, y, 2, 1e-3, K.SPACE_ENSEMBLE)
    obs = _analysis(E, Eo, y, 2, 1e-3, K.SPACE_OBSERVATION)
    auto = _analysis(E, Eo, y, 2, 1e-3, K.SPACE_AUTO)
    np.testing.assert_allclose(ens, obs, rtol=0, atol=1e-11)
    np.testing.assert_array_equal(auto, obs if N == 40 else ens)
    # the automatic choice: observation space when m = 26 local observations < N = 40
    assert K.use_observation_space(40, 26, 2, K.SPACE_AUTO)
    assert not K.use_observation_space(10, 26, 2, K.SPACE_AUTO)


def test_defaults_give_the_rmse_of_the_settings_they_replace(l96):
    """Spec §8.3 configuration (LETKF N = 10, infl 1.04, radius 4) over 6 truths:
    the defaults against one analysis per component, no taper cut, N x N
    factorization.  Tolerance: Z = 4 standard errors of the difference of the
    two means over truths (about 0.007 here); a wrong local weighting moves the
    RMSE by far more."""
    old = LETKF(
        ensemble_size=10,
        inflation=1.04,
        localization_radius=RADIUS,
        batch_size=1,
        taper_cut=0.0,
        factorization="ensemble",
    )
    new = LETKF(ensemble_size=10, inflation=1.04, localization_radius=RADIUS)
    a, b = [], []
    for s in range(6):
        x, y = l96.simulate(500, seed=50 + s)
        a.append(run_filter(l96, y, new, seed=s, truth=x, burn_in=150).attrs["rmse_mean"])
        b.append(run_filter(l96, y, old, seed=s, truth=x, burn_in=150).attrs["rmse_mean"])
    a, b = np.array(a), np.array(b)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) < Z_MCSE * se, (a, b)
    assert abs(a.mean() / b.mean() - 1) < 0.03, (a, b)
    assert a.mean() < 0.25  # spec §8.3


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_same_seed_same_bits_whatever_threads_and_batch(l96):
    x, y = l96.simulate(25, seed=4)
    runs = {}
    for batch in (None, 1, 2, 3):
        m = LETKF(ensemble_size=20, inflation=1.04, rotate=True, batch_size=batch)
        for threads in (1, 2):
            t = run_filter(l96, y, m, seed=9, threads=threads)
            runs[batch, threads] = np.concatenate(
                [t.filtered["mean"].values, t.filtered["sd"].values]
            )
        np.testing.assert_array_equal(runs[batch, 1], runs[batch, 2])
    np.testing.assert_array_equal(runs[None, 1], runs[2, 1])  # automatic = DAPPER's 2 here
    assert not np.array_equal(runs[1, 1], runs[2, 1])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="taper_cut"):
        LETKF(taper_cut=1.5)
    with pytest.raises(ValueError, match="factorization"):
        LETKF(factorization="svd")
    with pytest.raises(ValueError, match="batch_size"):
        LETKF(batch_size=0)


def test_rotation_without_the_matrix_equals_the_matrix_rotation():
    rng = np.random.default_rng(3)
    E = rng.standard_normal((12, 7))
    a = K.post_process(E, 1.1, K.random_rotation(np.random.default_rng(5), 12))
    b = K.post_process_random_rotation(E, 1.1, np.random.default_rng(5))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.mean(0), E.mean(0), rtol=0, atol=1e-12)  # mean-preserving
    np.testing.assert_allclose(np.cov(b.T), 1.21 * np.cov(E.T), rtol=0, atol=1e-12)


def test_random_rotation_is_haar_on_the_complement_of_the_ones_vector():
    """The rotation (Householder reflectors drawn directly, not a QR of a normal matrix)
    is orthogonal with R 1 = 1, and restricted to the complement of the ones vector
    (in a basis other than the one it is built in) Haar on O(n), n = N - 1: every entry
    has mean 0 and mean square 1/n, the trace has mean 0 and mean square 1 (Diaconis &
    Shahshahani 1994) and det = +1 with probability 1/2; Z = 4 standard errors.  Drawing
    the reflectors without the sign correction D fails the entry means and the trace."""
    N, M = 6, 20000
    n = N - 1
    rng = np.random.default_rng(8)
    U = K.ones_complement_basis(N)
    R = K.random_rotation(rng, N)
    np.testing.assert_allclose(R @ R.T, np.eye(N), atol=1e-13)
    np.testing.assert_allclose(R @ np.ones(N), np.ones(N), atol=1e-13)
    Q = np.empty((M, n, n))
    for i in range(M):
        Q[i] = U.T @ K.random_rotation(rng, N) @ U

    def within(x, truth):
        se = x.std(0, ddof=1) / np.sqrt(M)
        assert np.all(np.abs(x.mean(0) - truth) < Z_MCSE * se), (x.mean(0), truth, se)

    within(Q.reshape(M, -1), 0.0)
    within(Q.reshape(M, -1) ** 2, 1.0 / n)
    tr = np.trace(Q, axis1=1, axis2=2)
    within(tr, 0.0)
    within(tr**2, 1.0)
    within((np.linalg.det(Q) > 0).astype(float), 0.5)


@pytest.mark.parametrize("N,m", [(100, 3), (5, 8), (10, 10)])
def test_log_evidence_in_either_space_equals_the_gaussian_density(N, m):
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(N + m)
    Eo = rng.standard_normal((N, m)) * rng.uniform(0.5, 2, m)
    y = rng.standard_normal(m)
    L = rng.standard_normal((m, m)) * 0.3
    R = L @ L.T + np.eye(m)
    w, V = np.linalg.eigh(R)
    Rm12 = np.ascontiguousarray((V / np.sqrt(w)) @ V.T)
    log_norm = 0.5 * (m * np.log(2 * np.pi) + np.linalg.slogdet(R)[1])
    want = multivariate_normal(Eo.mean(0), np.cov(Eo.T, ddof=1) + R).logpdf(y)
    got = K.gaussian_log_evidence(np.ascontiguousarray(Eo), y, Rm12, log_norm)
    np.testing.assert_allclose(got, want, rtol=1e-10)
