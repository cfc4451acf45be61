"""The warmup adaptation options of the chain methods (``step_size_adaptation="single"``
and ``"auto"``, ``metric_adaptation="grad"``): known answers and the schedule they ask for."""

from __future__ import annotations

import numpy as np
import pytest
from _stats import check_gaussian_trace

import geobayes
from geobayes.adaptation.mass_matrix import (
    ADAPT_FALLBACK_ONLY,
    ADAPT_FREEZE,
    ADAPT_GRAD,
    ADAPT_GUARD_COUNT,
    ADAPT_GUARD_DECIDE,
    ADAPT_RESTART,
    ADAPT_RESTART_AVERAGE,
    ADAPT_SEARCH,
    ADAPT_SYM,
    ADAPT_UNIFORM_AVERAGE,
    ADAPT_WINDOW_END,
)
from geobayes.models.gaussian import gaussian_from_moments
from geobayes.samplers import NUTS

# a Gaussian whose scales span four orders of magnitude, plus a correlated pair (rho 0.9)
SD = np.geomspace(0.01, 100.0, 8)
MEAN = np.linspace(-3.0, 3.0, 10)
COV = np.zeros((10, 10))
COV[:8, :8] = np.diag(SD**2)
COV[8:, 8:] = [[1.0, 0.9], [0.9, 1.0]]
# nutpie's estimator M^-1_ii = sqrt(var x_i / var grad_i) = sqrt(COV_ii / inv(COV)_ii):
# the standard deviation for the independent coordinates, (1 - rho^2)^(1/2) = 0.436 for
# the pair (Stan's draw variance would give 1)
INV_MASS = np.sqrt(np.diag(COV) / np.diag(np.linalg.inv(COV)))


STAN = {"step_size_adaptation": "stan", "metric_adaptation": "draws"}
AUTO = {"step_size_adaptation": "auto", "metric_adaptation": "auto"}


def test_schedules():
    stan = NUTS(**STAN).warmup_flags(1000)
    single = NUTS(step_size_adaptation="single", metric_adaptation="grad").warmup_flags(1000)
    ends = [99, 149, 249, 449, 949]
    assert np.flatnonzero(stan & ADAPT_WINDOW_END).tolist() == ends
    assert np.flatnonzero(stan & ADAPT_RESTART).tolist() == ends  # Stan: every window
    assert not np.any(stan & (ADAPT_GRAD | ADAPT_RESTART_AVERAGE))
    assert np.flatnonzero(single & ADAPT_WINDOW_END).tolist() == ends  # same windows
    assert np.flatnonzero(single & ADAPT_RESTART).tolist() == [99]  # first window only
    # ... and later only the average restarts: the final step size averages the iterates
    # made with the final metric
    assert np.flatnonzero(single & ADAPT_RESTART_AVERAGE).tolist() == ends[1:]
    assert np.array_equal((single & ADAPT_GRAD) != 0, (single & 2) != 0)  # accumulating
    # without metric adaptation there is no window, hence no restart, in either scheme
    assert not np.any(NUTS(adapt_mass_matrix=False).warmup_flags(500) & ADAPT_RESTART)
    # "auto": single + grad with early windows of 10 in Stan's initial buffer (the first
    # restarts dual averaging around a step size searched for the new metric, the later
    # ones only its average), plus the divergence guard counting after the second of
    # Stan's window ends (the first restart's transient) through the last one, deciding
    # there; nutpie's final step-size window of 150 iterations: a chain the guard did not
    # switch freezes its metric at 849 and its final step size averages the dual-averaging
    # iterates of 850-999 uniformly (the last window end, 949, then serves only switched
    # chains); dual averaging reads nutpie's symmetric acceptance statistic from 80
    # iterations before that window on
    auto = NUTS(**AUTO).warmup_flags(1000)
    guard = ADAPT_GUARD_COUNT | ADAPT_GUARD_DECIDE
    restarts = ADAPT_RESTART | ADAPT_RESTART_AVERAGE
    final = ADAPT_FREEZE | ADAPT_FALLBACK_ONLY | ADAPT_UNIFORM_AVERAGE | ADAPT_SYM
    assert np.array_equal(auto[75:] & ~(guard | restarts | final), single[75:] & ~restarts)
    early = [9, 19, 29, 39, 49, 59, 74]
    assert np.flatnonzero(auto & ADAPT_WINDOW_END).tolist() == early + ends
    assert np.flatnonzero(auto & ADAPT_RESTART).tolist() == [9]
    assert np.flatnonzero(auto & ADAPT_SEARCH).tolist() == [9]
    assert np.flatnonzero(auto & ADAPT_RESTART_AVERAGE).tolist() == early[1:] + ends[:4] + [
        849,
        949,
    ]
    assert np.flatnonzero(auto & ADAPT_FREEZE).tolist() == [849]
    assert np.flatnonzero(auto & ADAPT_UNIFORM_AVERAGE).tolist() == [849]
    assert np.flatnonzero(auto & ADAPT_FALLBACK_ONLY).tolist() == [949]
    assert np.flatnonzero(auto & ADAPT_SYM).tolist() == list(range(770, 1000))
    assert np.all(auto[:950] & ADAPT_GRAD) and not np.any(auto[950:] & ADAPT_GRAD)
    assert np.flatnonzero(auto & ADAPT_GUARD_COUNT).tolist() == list(range(150, 950))
    assert np.flatnonzero(auto & ADAPT_GUARD_DECIDE).tolist() == [949]
    # the final window must be longer than Stan's terminal buffer and start after the
    # second last window end: not for 300 iterations (45 < 50), as for 400 (60 > 50)
    assert not np.any(NUTS(**AUTO).warmup_flags(300) & (final | ADAPT_UNIFORM_AVERAGE))
    assert np.flatnonzero(NUTS(**AUTO).warmup_flags(400) & ADAPT_FREEZE).tolist() == [339]
    # too short a warmup for the guard (2 windows): Stan's scheme; with a dense metric
    # "auto" estimates the draws' covariance
    for w in (299, 120):
        assert np.array_equal(NUTS(**AUTO).warmup_flags(w), NUTS(**STAN).warmup_flags(w))
    assert not np.any(NUTS(metric="dense", **AUTO).warmup_flags(1000) & ADAPT_GRAD)


def test_single_dual_averaging_and_gradient_metric_on_known_answers():
    """NUTS with both options on a Gaussian with scales 0.01 ... 100 and a correlated pair:
    means and variances within 4 MCSE; the adapted metric sqrt(diag M^-1) equals
    (var x / var grad)^(1/4) of the target within the error of one window's variances;
    the realized acceptance is near the target (Stan's restarted dual averaging overshoots
    it: 0.85-0.94 on the posteriordb models)."""
    model = gaussian_from_moments(MEAN, COV)
    method = NUTS(step_size_adaptation="single", metric_adaptation="grad")
    trace = geobayes.sample(model, method=method, draws=1000, warmup=1000, chains=4, seed=5,
                            progress=False)  # fmt: skip
    check_gaussian_trace(trace, model)
    metric = trace["sampler_state"]["metric"].values  # (chain, dim): sqrt(diag M^-1)
    ratio = metric / np.sqrt(INV_MASS)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    acc = float(trace.sample_stats["acceptance_rate"].mean())
    assert 0.74 < acc < 0.86, acc


def _last_window_variance(trace, names):
    """Stan's regularized variance of each chain's draws in the last window (450-949)."""
    x = trace.warmup_posterior
    last = np.concatenate(
        [x[k].values[:, 450:950].reshape(x.sizes["chain"], 500, -1) for k in names], axis=2
    )
    return (500 / 505.0) * last.var(axis=1, ddof=1) + 1e-3 * 5.0 / 505.0


def test_divergence_guard_switches_diverging_chains_to_stan():
    """The guard's decision per chain, read from the chains' dual-averaging state (da[10]
    the divergences counted in iterations 150-949, da[11] the switch).  On a Gaussian
    (scales 0.1 ... 10 and a correlated pair), with this seed, chain 1 diverges twice
    there (a step size probing past the leapfrog's stability limit) and switches to Stan's
    scheme: its final metric is the regularized variance of the last window's draws.
    Chain 0 does not diverge there, does not switch, and keeps nutpie's metric (the pair's
    ``sqrt(diag M^-1)`` near 0.436^(1/2), not near 1), frozen at iteration 849: exactly
    ``(var x / var grad)^(1/4)`` of its draws 450-849; its final step size is exactly the
    uniform average of the log dual-averaging iterates of iterations 850-999."""
    sd = np.geomspace(0.1, 10.0, 8)
    cov = np.zeros((10, 10))
    cov[:8, :8] = np.diag(sd**2)
    cov[8:, 8:] = COV[8:, 8:]
    model = gaussian_from_moments(MEAN, cov)
    tr = geobayes.sample(model, method=NUTS(**AUTO), draws=10, warmup=1000, chains=2, seed=5,
                         progress=False, save_warmup=True)  # fmt: skip
    da = tr["sampler_state"]["dual_averaging"].values
    div = tr.warmup_sample_stats["diverging"].values[:, 150:950].sum(axis=1)
    assert np.array_equal(da[:, 10], div)
    assert div.tolist() == [0, 2] and da[:, 11].tolist() == [0.0, 1.0], da[:, 10:]
    metric = tr["sampler_state"]["metric"].values
    last = tr.warmup_posterior["x"].values[:, 450:950]  # the last window's draws
    var = (500 / 505.0) * last.var(axis=1, ddof=1) + 1e-3 * 5.0 / 505.0
    np.testing.assert_allclose(metric[1], np.sqrt(var[1]), rtol=1e-8)
    inv_mass = np.sqrt(np.diag(cov) / np.diag(np.linalg.inv(cov)))
    ratio = metric[0] / np.sqrt(inv_mass)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    assert metric[0, 8] < 0.8 < metric[1, 8]
    x0 = tr.warmup_posterior["x"].values[0, 450:850]
    g0 = -(x0 - MEAN) @ np.linalg.inv(cov)  # the Gaussian's gradient at those draws
    np.testing.assert_allclose(metric[0], (x0.var(axis=0) / g0.var(axis=0)) ** 0.25, rtol=1e-8)
    # the iterates after the updates of 850..998 are the step sizes used at 851..999; the
    # last one (after 999) is the state's da[0]
    used = np.log(tr.warmup_sample_stats["step_size"].values[0, 851:1000])
    iterates = np.append(used, da[0, 0])
    final = np.log(tr.sample_stats["step_size"].values[0, 0])
    np.testing.assert_allclose(final, iterates.mean(), rtol=1e-10)


def test_bad_options():
    with pytest.raises(ValueError, match="step_size_adaptation"):
        NUTS(step_size_adaptation="nutpie")
    with pytest.raises(ValueError, match="guard needs"):
        from geobayes.adaptation import warmup_schedule

        warmup_schedule(1000, True, True, "windows", guard=True)
    with pytest.raises(ValueError, match="metric_adaptation"):
        NUTS(metric_adaptation="gradient")
    with pytest.raises(ValueError, match="diagonal"):
        NUTS(metric="dense", metric_adaptation="grad")
    with pytest.raises(ValueError, match="step_size_adaptation"):
        geobayes.sample("gaussian", method="hmc", step_size_adaptation=1, progress=False)


def test_resume_with_the_options_and_from_an_old_state(monkeypatch):
    """A run with both options interrupted between two metric windows (ends 99 and 109 for
    160 warmup iterations) and resumed equals the uninterrupted one bit for bit; so does a
    Stan run interrupted in the terminal window and resumed from a state saved before the
    average's own count existed (9 entries), and a default run of 400 warmup iterations
    interrupted in its final step-size window (frozen metric, uniform average: 340-399)."""
    from test_resume import _assert_same, _interrupt_after

    model = geobayes.models.get("eight_schools")
    kw = dict(draws=20, warmup=160, chains=2, seed=7, progress=False, save_warmup=True, cores=1)
    for method, stop, old_state, warmup in (
        (NUTS(step_size_adaptation="single", metric_adaptation="grad"), 105, False, 160),
        (NUTS(), 115, True, 160),
        (NUTS(), 370, False, 400),
    ):
        kw["warmup"] = warmup
        full = geobayes.sample(model, method, **kw)
        _interrupt_after(monkeypatch, stop, kw["chains"])
        with pytest.warns(UserWarning, match="interrupted during warmup"):
            part = geobayes.sample(model, method, **kw)
        monkeypatch.undo()
        if old_state:
            state = part["sampler_state"].to_dataset()
            state = state.isel(da_dim=slice(0, 9))
            part["sampler_state"] = state
        resumed = geobayes.sample(model, resume=part, progress=False)
        _assert_same(full, resumed)


def test_step_size_search():
    """nutpie's search (``_chunk.search_step_size``) from 0.1: doubling stops at the first
    step whose one-leapfrog acceptance (same momentum, the next ``d`` normals of the
    chain's generator) is at most the target, halving at the first one at least the target;
    every trial is one gradient, counted in ``n_steps``."""
    from geobayes.samplers._chunk import _one_step_accept, search_step_size

    m = geobayes.models.gaussian(dim=5)
    x = np.full(5, 0.3)
    lp, g = m.lpg(x, m.fdata, m.idata)
    g = np.asarray(g)
    y, w = np.empty(5), np.empty(5)
    for scale, doubling in ((1.0, True), (1e-3, True), (100.0, False)):
        metric = np.full(5, scale)
        row = np.zeros(9)
        eps = search_step_size(np.random.default_rng(3), x, lp, g, m.lpg, m.fdata, m.idata,
                               metric, 0.8, row)  # fmt: skip
        v = np.random.default_rng(3).standard_normal(5)

        def acc(e, v=v, metric=metric):
            return _one_step_accept(x, lp, g, v, m.lpg, m.fdata, m.idata, e, metric, y, w)

        k = round(np.log2(eps / 0.1))
        assert np.isclose(eps, 0.1 * 2.0**k)
        assert row[3] == abs(k) + 1  # trials: 0.1, then one per doubling or halving
        if doubling:
            assert k > 0 and acc(eps) <= 0.8 < acc(eps / 2)
        else:
            assert k < 0 and acc(eps) >= 0.8 > acc(eps * 2)
