"""Metrics of the bench harness on synthetic cases with known answers."""

import math

import numpy as np
import pytest

from geobayes.bench.cell import Budget, parse_budget
from geobayes.bench.metrics import energy_distance, ess, run_metrics, standardized_errors


def _ref(n=4000, k=3, seed=0):
    return np.random.default_rng(seed).normal(size=(1, n, k)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -3.0]


def test_standardized_errors_exact_on_shifted_and_scaled_copies():
    ref = _ref()
    m = ref.mean((0, 1))
    sd = ref.reshape(-1, 3).std(0, ddof=1)
    x = m + 1.7 * (ref - m) + 0.25 * sd  # mean shifted by 0.25 sd, sds scaled by 1.7
    e = standardized_errors(x, ref)
    np.testing.assert_allclose(e["mean_err"], 0.25, rtol=1e-12)
    np.testing.assert_allclose(e["sd_ratio"], 1.7, rtol=1e-12)
    assert e["max_sd_err"] == pytest.approx(0.7, rel=1e-12)


def test_weighted_errors_use_the_weights():
    # particles at 0 and 1 with weights 1/4, 3/4: weighted mean 0.75, sd sqrt(3/16)
    x = np.array([[[0.0], [1.0]]])
    lw = np.log([[0.25, 0.75]])
    ref = np.array([[[0.0], [2.0]]])  # mean 1, sd (ddof=1) sqrt(2)
    e = standardized_errors(x, ref, lw)
    assert e["mean_err"][0] == pytest.approx(0.25 / math.sqrt(2.0))
    assert e["sd_ratio"][0] == pytest.approx(math.sqrt(3 / 16) / math.sqrt(2.0))
    assert ess(x, lw)["ess_bulk"] == pytest.approx(1.0 / (0.25**2 + 0.75**2))


def test_energy_distance_known_answers():
    # point masses at distance d (reference sd 0 -> unit scale): 2 E|X-Y| = 2 d
    a = np.zeros((1, 50, 2))
    b = np.zeros((1, 50, 2)) + [3.0, 4.0]
    assert energy_distance(a, b) == pytest.approx(10.0)
    ref = _ref()
    assert energy_distance(ref, ref) == pytest.approx(0.0, abs=1e-9)
    # a two-point law given by weights equals the same law given by repeated draws
    pts = np.array([[[0.0], [1.0]]])
    lw = np.log([[0.25, 0.75]])
    rep = np.array([[[0.0]] * 250 + [[1.0]] * 750]).reshape(1, 1000, 1)
    ref2 = np.random.default_rng(1).normal(size=(1, 500, 1))
    assert energy_distance(pts, ref2, lw) == pytest.approx(energy_distance(rep, ref2), abs=1e-3)


def test_energy_distance_gaussian_shift():
    # 1-D N(0,1) vs N(mu,1): 2 E|N(mu, 2)| - 2 E|N(0, 2)|, closed form
    from scipy.stats import norm

    mu, s = 1.0, math.sqrt(2.0)
    e_abs = s * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * s * s)) + mu * (
        1 - 2 * norm.cdf(-mu / s)
    )
    truth = 2 * e_abs - 2 * s * math.sqrt(2 / math.pi)
    rng = np.random.default_rng(3)
    vals = [
        energy_distance(rng.normal(mu, 1, (1, 1000, 1)), rng.normal(0, 1, (1, 1000, 1)))
        for _ in range(8)
    ]
    # spread of the estimate over the 10 replicates sets the tolerance (4 standard errors)
    se = np.std(vals, ddof=1) / math.sqrt(len(vals))
    assert abs(np.mean(vals) - truth) < 4 * se + 2 / 1000  # + V-statistic bias O(1/n)
    assert truth > 0.3  # a shift of one sd is far from 0


def test_ess_iid_and_ar1():
    rng = np.random.default_rng(5)
    iid = rng.normal(size=(4, 2000, 2))
    e = ess(iid)
    assert 0.85 * 8000 < e["ess_bulk"] < 1.15 * 8000
    assert 0.85 * 8000 < e["ess_tail"] < 1.15 * 8000
    rho = 0.8
    z = rng.normal(size=(4, 5000))
    x = np.empty_like(z)
    x[:, 0] = z[:, 0] / math.sqrt(1 - rho * rho)
    for t in range(1, z.shape[1]):
        x[:, t] = rho * x[:, t - 1] + z[:, t]
    truth = 20000 * (1 - rho) / (1 + rho)
    e = ess(x[..., None])
    assert 0.8 * truth < e["ess_bulk"] < 1.2 * truth


def test_run_metrics_rates():
    ref = _ref()
    x = _ref(seed=9).reshape(4, 1000, 3)
    m = run_metrics(x, ref, wall_s=2.0, n_grad=1000)
    assert m["ess_bulk_per_s"] == pytest.approx(m["ess_bulk"] / 2.0)
    assert m["ess_bulk_per_grad"] == pytest.approx(m["ess_bulk"] / 1000)
    assert m["max_mean_err"] < 4 * math.sqrt(1 / 4000 + 1 / 4000) * 1.5


def test_parse_budget():
    assert parse_budget("2.5s") == Budget("wall", 2.5)
    assert parse_budget("20000grad") == Budget("grad", 20000.0)
    for bad in ("0s", "-1grad", "5", "fast"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(bad)


def test_signed_weights_are_used_as_they_are():
    # MSIP's signed weights: 0.5 at 0, -0.25 and 0.75 at 1 are the law 0.5 d0 + 0.5 d1
    x = np.array([[[0.0], [1.0], [1.0]]])
    w = np.array([[1.0, -0.5, 1.5]])  # unnormalized: the metrics normalize per chain
    two = np.array([[[0.0], [1.0]]])
    ref = np.random.default_rng(2).normal(size=(1, 800, 1))
    e = standardized_errors(x, ref, weights=w)
    e2 = standardized_errors(two, ref)
    rsd = ref.std(ddof=1)
    assert e["mean_err"][0] == pytest.approx(abs(0.5 - ref.mean()) / rsd)
    assert e["sd_ratio"][0] == pytest.approx(0.5 / rsd)  # population sd of {0, 1} is 0.5
    assert e2["mean_err"][0] == pytest.approx(e["mean_err"][0])
    # no resampling of a signed measure: the same energy distance as the cancelled law
    half = np.log([[0.5, 0.5]])
    assert energy_distance(x, ref, weights=w) == pytest.approx(energy_distance(two, ref, half))
    # Kish ESS of the normalized signed weights
    wn = w / w.sum()
    assert ess(x, weights=w)["ess_bulk"] == pytest.approx(1.0 / np.sum(wn * wn))
