"""Linear-Gaussian agreement with the Kalman filter (filters spec §8.1).

Error budget.  ``err(N)`` is the time mean of ``|x̄_k - m_k| / sqrt(tr P_k)`` over
the 50 steps, averaged over seeds.  Measured spread over seeds is about 15 % of
the mean at N = 100, so the fitted slope over N = 100..1600 (8 seeds each) has a
standard error of about 0.05; the accepted band [-0.75, -0.3] around -0.5 is
four such errors wide on the tight side.  Thresholds in absolute terms (err <
0.1 at N = 2000; covariance error < 0.15) are the spec's and are about 3x above
the measured values (0.03 and 0.03).
"""

from __future__ import annotations

import numpy as np
import pytest

from geobayes.filters import filter


def _kf_moments(kalman_tree):
    m = kalman_tree.filtered["mean"].values
    P = kalman_tree.filtered["covariance"].values
    return m, P


def _mean_error(tree, m, P):
    mu = tree.filtered["mean"].values
    return np.mean(np.linalg.norm(mu - m, axis=1) / np.sqrt(np.trace(P, axis1=1, axis2=2)))


def _cov_error(tree, P):
    ens = tree.posterior["ensemble"].values[0]  # (draw, time, state)
    C = np.stack([np.cov(ens[:, k].T) for k in range(ens.shape[1])])
    return np.mean(np.linalg.norm(C - P, axis=(1, 2)) / np.linalg.norm(P, axis=(1, 2)))


@pytest.mark.parametrize("method", ["enkf", "etkf"])
def test_error_shrinks_like_inverse_sqrt_n(lg_model, lg_data, kalman_tree, method):
    _, y = lg_data
    m, P = _kf_moments(kalman_tree)
    sizes = np.array([100, 400, 1600])
    errs = [
        np.mean(
            [
                _mean_error(filter(lg_model, y, method, ensemble_size=int(n), seed=s), m, P)
                for s in range(8)
            ]
        )
        for n in sizes
    ]
    slope = np.polyfit(np.log(sizes), np.log(errs), 1)[0]
    assert -0.75 < slope < -0.3, (errs, slope)


@pytest.mark.parametrize("method", ["enkf", "etkf"])
def test_large_ensemble_matches_kalman(lg_model, lg_data, kalman_tree, method):
    _, y = lg_data
    m, P = _kf_moments(kalman_tree)
    trees = [
        filter(lg_model, y, method, ensemble_size=2000, seed=s, store="ensemble") for s in range(3)
    ]
    assert np.mean([_mean_error(t, m, P) for t in trees]) < 0.1
    assert np.mean([_cov_error(t, P) for t in trees]) < 0.15


def test_etkf_covariance_closer_to_kalman_than_enkf(lg_model, lg_data, kalman_tree):
    """The deterministic square root adds no perturbation noise to the covariance.

    (The mean error is dominated here by the sampled process noise, which both
    filters share, so the spec's "ETKF has smaller error" shows in the covariance;
    measured 0.105 against 0.130 at N = 100, seed-to-seed sd 0.01.)
    """
    _, y = lg_data
    _, P = _kf_moments(kalman_tree)
    err = {
        meth: np.mean(
            [
                _cov_error(
                    filter(lg_model, y, meth, ensemble_size=100, seed=s, store="ensemble"), P
                )
                for s in range(8)
            ]
        )
        for meth in ("enkf", "etkf")
    }
    assert err["etkf"] < err["enkf"], err


def test_particle_filter_matches_kalman_and_log_evidence(lg_model, lg_data, kalman_tree):
    """PF N = 5000: mean within 0.1 posterior sd (time mean), log-evidence within 1 nat.

    Measured over 5 seeds: |log Z - log Z_KF| <= 0.19 nat (MC sd about 0.13), time-mean
    z-error 0.02-0.03, max over time 0.1-0.2.
    """
    _, y = lg_data
    m, P = _kf_moments(kalman_tree)
    sd = np.sqrt(np.diagonal(P, axis1=1, axis2=2))
    for seed in (0, 1):
        tree = filter(lg_model, y, "pf", ensemble_size=5000, seed=seed)
        z = np.abs(tree.filtered["mean"].values - m) / sd
        assert z.mean() < 0.1 and z.max() < 0.4
        assert abs(tree.attrs["log_evidence"] - kalman_tree.attrs["log_evidence"]) < 1.0
        ess = tree.sample_stats["ess"].values
        assert np.all((ess >= 1) & (ess <= 5000 + 1e-6))


def test_uninformative_observations(lg_model, lg_data):
    """Spec §8.8: with R -> infinity the analysis equals the forecast; PF weights stay uniform."""
    from geobayes.filters import models

    ssm = models.linear_gaussian(obs_noise_cov=1e14)
    _, y = lg_data
    for meth in ("etkf", "enkf"):
        t = filter(ssm, y, meth, ensemble_size=20, seed=0)
        np.testing.assert_allclose(t.filtered["mean"].values, t.predicted["mean"].values, atol=1e-5)
        np.testing.assert_allclose(t.filtered["sd"].values, t.predicted["sd"].values, rtol=1e-5)
    t = filter(ssm, y, "pf", ensemble_size=200, seed=0)
    np.testing.assert_allclose(t.sample_stats["ess"].values, 200, rtol=1e-9)
    assert t.sample_stats["resampled"].values.sum() == 0


def test_inflation_one_equals_no_inflation(lg_model, lg_data):
    _, y = lg_data
    a = filter(lg_model, y, "etkf", ensemble_size=30, seed=3)
    b = filter(lg_model, y, "etkf", ensemble_size=30, seed=3, inflation=1.0)
    np.testing.assert_array_equal(a.filtered["mean"].values, b.filtered["mean"].values)
    c = filter(lg_model, y, "etkf", ensemble_size=30, seed=3, inflation=1.1)
    assert np.all(c.sample_stats["spread"].values > a.sample_stats["spread"].values)
