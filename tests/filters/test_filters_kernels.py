"""Jitted analysis kernels against their NumPy twins, and their exact invariants."""

from __future__ import annotations

import numpy as np
import pytest
from filters._filters_helpers import random_ensemble
from reference import filters_ref as ref

from geobayes.filters import enkf as K
from geobayes.filters._localization import (
    Taper,
    local_obs_sets,
    periodic_distance,
    taper_coefficients,
)
from geobayes.filters.kalman import kalman_filter


def _whiten(R):
    vals, vecs = np.linalg.eigh(R)
    return np.ascontiguousarray((vecs / np.sqrt(vals)) @ vecs.T)


# N > m (ensemble-space eigendecomposition), N < m (observation-space form), N = 2, m = 1, d = 1
SHAPES = [(10, 4, 3), (5, 3, 8), (2, 1, 1), (7, 1, 3), (3, 6, 12)]


@pytest.mark.parametrize("N,d,m", SHAPES)
def test_etkf_matches_reference(N, d, m):
    rng = np.random.default_rng(N * 100 + m)
    E, Eo, y, R = random_ensemble(rng, N, d, m)
    got = K.etkf_analysis(E, Eo, y, _whiten(R))
    np.testing.assert_allclose(got, ref.etkf(E, Eo, y, R), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("N,d,m", SHAPES)
def test_enkf_matches_reference(N, d, m):
    rng = np.random.default_rng(N * 10 + m)
    E, Eo, y, R = random_ensemble(rng, N, d, m)
    Z = rng.standard_normal((N, m))
    got = K.enkf_analysis(E, Eo, y, R, np.linalg.cholesky(R), Z)
    np.testing.assert_allclose(got, ref.enkf(E, Eo, y, R, Z), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("N,d,radius", [(8, 12, 2.0), (4, 10, 1.0), (15, 6, 5.0)])
def test_letkf_matches_reference(N, d, radius):
    rng = np.random.default_rng(d)
    E, _, _, _ = random_ensemble(rng, N, d, 1)
    obs_idx = np.arange(0, d, 2)
    Eo = np.ascontiguousarray(E[:, obs_idx] ** 2 / 4 + E[:, obs_idx])
    m = obs_idx.size
    R = np.diag(rng.uniform(0.5, 2.0, m))
    y = rng.standard_normal(m)
    bp, indptr, idx, sq = local_obs_sets(np.arange(d), obs_idx, float(d), radius)
    got = K.letkf_analysis(E, Eo, y, _whiten(R), bp, indptr, idx, sq)
    dist = periodic_distance(np.arange(d), obs_idx, float(d))
    want = ref.letkf(E, Eo, y, R, dist, lambda dd: ref.gaspari_cohn(dd, radius))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_letkf_with_infinite_radius_equals_etkf():
    rng = np.random.default_rng(5)
    E, Eo, y, R = random_ensemble(rng, 6, 5, 4)
    R = np.diag(np.diag(R))
    for batch in (1, 2, 5):
        bp, indptr, idx, sq = local_obs_sets(np.zeros(5), np.zeros(4), 0.0, 1.0, Taper.STEP, batch)
        got = K.letkf_analysis(E, Eo, y, _whiten(R), bp, indptr, idx, sq)
        np.testing.assert_allclose(got, K.etkf_analysis(E, Eo, y, _whiten(R)), atol=1e-10)


def test_letkf_batches_match_reference_with_block_centres():
    """Batches of 2 (DAPPER's L96 setting): distances from the block centre l + 0.5."""
    rng = np.random.default_rng(8)
    N, d = 6, 10
    E, _, _, _ = random_ensemble(rng, N, d, 1)
    Eo = np.ascontiguousarray(E.copy())
    R = np.eye(d)
    y = rng.standard_normal(d)
    bp, indptr, idx, sq = local_obs_sets(np.arange(d), np.arange(d), float(d), 2.0, batch_size=2)
    np.testing.assert_array_equal(bp, [0, 2, 4, 6, 8, 10])
    got = K.letkf_analysis(E, Eo, y, R, bp, indptr, idx, sq)
    centres = np.repeat(np.arange(0, d, 2) + 0.5, 2)
    dist = periodic_distance(centres, np.arange(d), float(d))
    want = ref.letkf(E, Eo, y, R, dist, lambda dd: ref.gaspari_cohn(dd, 2.0))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_gaspari_cohn_matches_reference_and_dapper_scaling():
    dist = np.linspace(0, 20, 401)
    np.testing.assert_allclose(
        taper_coefficients(dist, 4.0), ref.gaspari_cohn(dist, 4.0), atol=1e-14
    )
    c = taper_coefficients(dist, 4.0)
    assert c[0] == 1.0 and np.all(np.diff(c) <= 1e-15) and np.all(c[dist > 2 * 1.82 * 4] == 0)
    # DAPPER scaling c = 1.82 r ~ sqrt(10/3) r: same curvature at 0 as exp(-d^2 / (2 r^2)),
    # so 1 - d^2/(2 r^2) to second order, and 0.63 ~ exp(-1/2) at d = r
    assert abs(taper_coefficients(0.2, 4.0) - np.exp(-0.5 * 0.05**2)) < 1e-4
    assert abs(taper_coefficients(4.0, 4.0) - np.exp(-0.5)) < 0.03
    assert taper_coefficients(4.0, 4.0, Taper.STEP) == 1.0
    assert taper_coefficients(4.01, 4.0, Taper.STEP) == 0.0


def test_periodic_distance():
    d = periodic_distance(np.array([0.0, 39.0]), np.array([1.0, 20.0, 38.0]), 40.0)
    np.testing.assert_array_equal(d, [[1, 20, 2], [2, 19, 1]])


@pytest.mark.parametrize("N,m", [(10, 3), (4, 9), (2, 1)])
def test_symmetric_transform_fixes_ones(N, m):
    """Spec §8.5: T 1 = 1 and T symmetric, in both branches of the transform."""
    rng = np.random.default_rng(N + m)
    S = rng.standard_normal((N, m))
    S -= S.mean(0)
    w, T = K.etkf_transform(np.ascontiguousarray(S), rng.standard_normal(m), N - 1.0)
    np.testing.assert_allclose(T @ np.ones(N), np.ones(N), atol=1e-12)
    np.testing.assert_allclose(T, T.T, atol=1e-12)
    assert abs(w.sum()) < 1e-12  # mean weights live in the anomaly space


def test_rotation_preserves_mean_and_spread():
    """Spec §8.5: with a random rotation the analysis mean is unchanged (1e-10)."""
    rng = np.random.default_rng(11)
    E, Eo, y, R = random_ensemble(rng, 12, 5, 3)
    Ea = K.etkf_analysis(E, Eo, y, _whiten(R))
    rot = K.random_rotation(np.random.default_rng(3), 12)
    np.testing.assert_allclose(rot @ rot.T, np.eye(12), atol=1e-12)
    np.testing.assert_allclose(rot @ np.ones(12), np.ones(12), atol=1e-12)
    plain = K.post_process(Ea, 1.0, np.zeros((0, 0)))
    rotated = K.post_process(Ea, 1.0, rot)
    np.testing.assert_allclose(rotated.mean(0), plain.mean(0), atol=1e-10)
    np.testing.assert_allclose(np.cov(rotated.T), np.cov(plain.T), atol=1e-10)
    assert np.abs(rotated - plain).max() > 1e-3  # the rotation does something


def test_inflation_one_is_noop_and_inflation_scales_anomalies():
    rng = np.random.default_rng(2)
    E = rng.standard_normal((9, 4))
    np.testing.assert_allclose(K.post_process(E, 1.0, np.zeros((0, 0))), E, atol=1e-14)
    Ei = K.post_process(E, 1.3, np.zeros((0, 0)))
    np.testing.assert_allclose(Ei.mean(0), E.mean(0), atol=1e-14)
    np.testing.assert_allclose(Ei - Ei.mean(0), 1.3 * (E - E.mean(0)), atol=1e-13)


def test_uninformative_observation_leaves_forecast():
    """Spec §8.8: R -> infinity makes the analysis equal to the forecast."""
    rng = np.random.default_rng(4)
    E, Eo, y, _ = random_ensemble(rng, 8, 3, 2)
    R = 1e14 * np.eye(2)
    np.testing.assert_allclose(K.etkf_analysis(E, Eo, y, _whiten(R)), E, atol=1e-9)
    Z = rng.standard_normal((8, 2))
    np.testing.assert_allclose(K.enkf_analysis(E, Eo, y, R, np.linalg.cholesky(R), Z), E, atol=1e-5)


def test_kalman_matches_reference(lg_model, lg_data):
    _, y = lg_data
    F, H = lg_model.transition_matrix, lg_model.observation_matrix
    Q, R = lg_model.process_noise_cov, lg_model.obs_noise_cov
    m0, P0 = lg_model.initial_mean, lg_model.initial_cov
    got = kalman_filter(F, Q, H, R, m0, P0, y)
    ms, Ps, lls = ref.kalman(F, Q, H, R, m0, P0, y)
    np.testing.assert_allclose(got.filtered_mean, ms, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.filtered_cov, Ps, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.log_evidence_increment, lls, rtol=1e-10)


def test_kalman_log_likelihood_equals_joint_gaussian(lg_model, lg_data):
    """The sum of the increments is log p(y_1..y_K), computed here by brute force."""
    _, y = lg_data
    y = y[:20]
    F, H = lg_model.transition_matrix, lg_model.observation_matrix
    Q, R = lg_model.process_noise_cov, lg_model.obs_noise_cov
    m0, P0 = lg_model.initial_mean, lg_model.initial_cov
    got = kalman_filter(F, Q, H, R, m0, P0, y).log_evidence_increment.sum()
    np.testing.assert_allclose(got, ref.joint_loglik(F, Q, H, R, m0, P0, y), rtol=1e-9)


def test_kalman_3d_with_two_observations():
    rng = np.random.default_rng(0)
    F = np.eye(3) * 0.8 + 0.1 * rng.standard_normal((3, 3))
    H = rng.standard_normal((2, 3))
    Q, R = 0.2 * np.eye(3), np.array([[0.5, 0.1], [0.1, 0.3]])
    Y = rng.standard_normal((15, 2))
    got = kalman_filter(F, Q, H, R, np.ones(3), np.eye(3), Y)
    ms, Ps, lls = ref.kalman(F, Q, H, R, np.ones(3), np.eye(3), Y)
    np.testing.assert_allclose(got.filtered_mean, ms, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        got.log_evidence_increment.sum(),
        ref.joint_loglik(F, Q, H, R, np.ones(3), np.eye(3), Y),
        rtol=1e-9,
    )
