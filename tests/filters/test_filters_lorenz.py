"""Lorenz-63 / Lorenz-96 accuracy against DAPPER's reference RMSEs (filters spec §8.2-8.4).

Chaotic runs vary from seed to seed, so each check uses the median over 5
seeds of the time-mean analysis RMSE after burn-in (DAPPER's ``rmse.a``), in
the full DAPPER settings (1000 cycles).  Measured medians: L63 ETKF N=10 0.56
(band [0.5, 0.75], reference 0.60), L96 LETKF N=10 0.20 (<= 0.25), L96 ETKF
N=24 0.18 (<= 0.22).  Single-seed spread of these medians is about 0.02-0.03,
so the bands are several standard errors wide, yet a filter that loses the
truth (RMSE near the observation noise, 1.4 / 1.0) or a missing inflation
fails them.
"""

from __future__ import annotations

import numpy as np
import pytest

from geobayes.filters import ETKF, LETKF, EnKF, ParticleFilter, configs, filter, models

SEEDS = range(5)


def _median_rmse(cfg, method, seeds=SEEDS, **kw):
    trees = [cfg.run(method, seed=s, **kw) for s in seeds]
    return float(np.median([t.attrs["rmse_mean"] for t in trees])), trees


def test_l63_etkf_n10_rmse_in_reference_band():
    rmse, trees = _median_rmse(
        configs.sakov2012(), ETKF(ensemble_size=10, inflation=1.02, rotate=True)
    )
    assert 0.5 <= rmse <= 0.75, rmse
    for t in trees:  # no collapse (spec §8.4)
        assert t.sample_stats["spread"].values.min() > 1e-6
        ratio = t.attrs["spread_mean"] / t.attrs["rmse_mean"]
        assert 0.5 <= ratio <= 2.0, ratio


@pytest.mark.parametrize(
    "method",
    [
        EnKF(ensemble_size=10, inflation=1.04),
        ETKF(ensemble_size=10, inflation=1.02),
        ParticleFilter(ensemble_size=100, regularization=2.4, resample_threshold=0.3),
    ],
    ids=["enkf", "etkf-norot", "pf"],
)
def test_l63_every_method_beats_observation_noise(method):
    rmse, trees = _median_rmse(configs.sakov2012(), method, seeds=range(3))
    assert rmse < np.sqrt(2.0), rmse
    for t in trees:
        assert t.sample_stats["spread"].values.min() > 1e-6


def test_l63_members_stay_distinct():
    tree = configs.sakov2012().run(
        ETKF(ensemble_size=10, inflation=1.02, rotate=True), seed=0, n_cycles=200, store="ensemble"
    )
    ens = tree.posterior["ensemble"].values[0]  # (member, time, state)
    spread = tree.sample_stats["spread"].values
    diff = ens[:, None] - ens[None, :]
    dist = np.sqrt((diff**2).sum(-1))  # (member, member, time)
    iu = np.triu_indices(ens.shape[0], 1)
    assert np.all(dist[iu] > 1e-6 * spread)


def test_l96_letkf_n10():
    rmse, trees = _median_rmse(
        configs.sakov2008(), LETKF(ensemble_size=10, inflation=1.04, localization_radius=4.0)
    )
    assert rmse <= 0.25, rmse
    for t in trees:
        assert t.sample_stats["spread"].values.min() > 1e-6


def test_l96_etkf_n24():
    rmse, _ = _median_rmse(
        configs.sakov2008(), ETKF(ensemble_size=24, inflation=1.013, rotate=True)
    )
    assert rmse <= 0.22, rmse


def test_l96_etkf_without_localization_fails_at_small_n():
    """Sanity check that the L96 thresholds can fail: ETKF with N = 10 < 14 diverges (spec §7.2)."""
    rmse, _ = _median_rmse(
        configs.sakov2008(), ETKF(ensemble_size=10, inflation=1.04), seeds=range(3)
    )
    assert rmse > 0.5, rmse


def test_l96_letkf_half_observed_and_larger_dim():
    ssm = models.lorenz96_half(dim=40)
    x, y = ssm.simulate(600, seed=3)
    t = filter(
        ssm,
        y,
        LETKF(ensemble_size=20, inflation=1.05, localization_radius=3.0),
        seed=4,
        truth=x,
        burn_in=300,
    )
    assert t.attrs["rmse_mean"] < 1.0  # climatology is 3.6
    ssm = models.lorenz96(dim=100)
    x, y = ssm.simulate(600, seed=5)
    t = filter(ssm, y, LETKF(ensemble_size=10, inflation=1.04), seed=6, truth=x, burn_in=400)
    assert t.attrs["rmse_mean"] <= 0.25


def test_bimodal_particle_filter_keeps_both_modes():
    """Spec §7.3.1: y = x^2 + noise, y* = 1; the PF keeps both modes, the EnKF cannot."""
    ssm = models.bimodal()
    y = np.array([[1.0]])
    t = filter(
        ssm, y, ParticleFilter(ensemble_size=4000, resample_threshold=1.0), seed=0, store="ensemble"
    )
    x = t.posterior["ensemble"].values[0, :, 0, 0]
    assert np.mean(np.abs(np.abs(x) - 1) < 0.2) > 0.8
    assert 0.35 <= np.mean(x > 0) <= 0.65
    t = filter(ssm, y, EnKF(ensemble_size=500), seed=0, store="ensemble")
    x = t.posterior["ensemble"].values[0, :, 0, 0]
    assert np.mean(np.abs(np.abs(x) - 1) < 0.2) < 0.5


def test_stochastic_volatility_particle_filter_only():
    ssm = models.stochastic_volatility()
    x, y = ssm.simulate(300, seed=1)
    t = filter(ssm, y, "pf", ensemble_size=500, seed=2, truth=x)
    assert np.isfinite(t.attrs["log_evidence"])
    prior_sd = np.sqrt(ssm.initial_cov[0, 0])
    assert t.attrs["rmse_mean"] < prior_sd  # the observations carry information
    with pytest.raises(TypeError, match="non-Gaussian"):
        filter(ssm, y, "etkf", seed=0)


def test_cubic_and_sparse_l63_run():
    for name in ("lorenz63_cubic", "lorenz63_sparse"):
        ssm = models.get(name)
        x, y = ssm.simulate(300, seed=1)
        t = filter(ssm, y, EnKF(ensemble_size=30, inflation=1.04), seed=2, truth=x, burn_in=50)
        assert np.isfinite(t.attrs["rmse_mean"])
        assert t.attrs["rmse_mean"] < 7.6  # better than climatology


def _paper_cases():
    for cfg in (configs.sakov2012(), configs.sakov2008()):
        for ref in cfg.references:
            if ref.method is None or "Ko=10000" in ref.label or "N=4000" in ref.label:
                continue  # not implemented here, or minutes per seed
            yield pytest.param(cfg, ref, id=f"{cfg.name}: {ref.label}")


@pytest.mark.paper
@pytest.mark.slow
@pytest.mark.parametrize("cfg, ref", list(_paper_cases()))
def test_reference_table_rmse(cfg, ref):
    """Every reference of the configs (DAPPER's tables, spec §7) within 15 % (median of 3 seeds).

    DAPPER documents +-5-10 % run-to-run for Ko = 1000; the measured medians over 5 seeds
    lie 3-9 % below the references (benchmarks/filters/RESULTS.md), DAPPER's own 1-6 %.
    """
    rmse, _ = _median_rmse(cfg, ref.method, seeds=range(3))
    assert abs(rmse - ref.rmse) <= 0.15 * ref.rmse, (ref.label, rmse, ref.rmse)
