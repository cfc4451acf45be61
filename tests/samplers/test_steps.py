"""Sampler steps: agreement with NumPy twins, and invariance of the target under one step."""

import numpy as np
import pytest
from reference import samplers_ref as ref

from geobayes.models import correlated_gaussian, get
from geobayes.samplers._integrators import dense_metric
from geobayes.samplers.hmc import hmc_step
from geobayes.samplers.mala import mala_step


def _run_step(step, model, x, seed, eps, metric, params, n_extra=1):
    lp, g = model.logdensity_and_grad(x)
    stats = np.zeros(6 + n_extra)
    out = step(
        np.random.default_rng(seed),
        x,
        lp,
        g,
        model.lpg,
        model.fdata,
        model.idata,
        eps,
        metric,
        params,
        stats,
    )
    return out, stats


@pytest.mark.parametrize("name", ["eight_schools", "banana", "funnel"])
@pytest.mark.parametrize("dense", [False, True])
def test_steps_match_numpy_twins(name, dense):
    """Same generator state in, same draws out: the step and its NumPy twin agree."""
    model = get(name)
    rng = np.random.default_rng(0)
    f = lambda t: model.logdensity_and_grad(t)  # noqa: E731
    for k in range(20):
        x = rng.uniform(-1, 1, model.dim)
        lp, g = f(x)
        if dense:
            a = rng.standard_normal((model.dim, model.dim))
            inv_mass = a @ a.T / model.dim + 0.5 * np.eye(model.dim)
            metric = dense_metric(inv_mass)
        else:
            inv_mass = rng.uniform(0.5, 2.0, model.dim)
            metric = np.sqrt(inv_mass)
        eps = rng.uniform(0.05, 0.5)
        out, st = _run_step(mala_step, model, x, k, eps, metric, np.zeros(0))
        r = np.random.default_rng(k)
        z = r.standard_normal(model.dim)
        u = r.random()
        exp = ref.mala_step(x, lp, g, z, u, f, eps, inv_mass)
        np.testing.assert_allclose(out[0], exp[0], rtol=1e-12)
        assert st[2] == pytest.approx(exp[3], rel=1e-9, abs=1e-12) and st[6] == exp[4]
        assert st[3] == 1 and st[4] == 0
        out, st = _run_step(hmc_step, model, x, k, eps, metric, np.array([1.3, 50.0]))
        r = np.random.default_rng(k)
        z = r.standard_normal(model.dim)
        u, uj = r.random(), r.random()
        exp = ref.hmc_step(x, lp, g, z, u, uj, f, eps, inv_mass, 1.3, 50)
        np.testing.assert_allclose(out[0], exp[0], rtol=1e-10, atol=1e-12)
        assert st[2] == pytest.approx(exp[3], rel=1e-8, abs=1e-12)
        assert st[6] == exp[4] and st[3] == exp[5]


@pytest.mark.parametrize(
    "step,params", [(mala_step, np.zeros(0)), (hmc_step, np.array([1.0, 100.0]))]
)
def test_one_step_from_exact_draws_keeps_the_target(step, params):
    """Start from exact draws of a correlated Gaussian, apply one step each with a large
    step size (many rejections, so both branches matter): mean and covariance unchanged
    within 4 standard errors of i.i.d. draws."""
    model = correlated_gaussian(dim=4, condition_number=20.0, seed=3)
    cov = model.true_cov
    rng = np.random.default_rng(5)
    n = 40_000
    draws = rng.multivariate_normal(np.zeros(4), cov, size=n)
    out = np.empty_like(draws)
    acc = 0.0
    for k in range(n):
        x = np.ascontiguousarray(draws[k])
        res, st = _run_step(step, model, x, k, 0.9, np.ones(4), params)
        out[k] = res[0]
        acc += st[2]
    assert 0.2 < acc / n < 0.95  # a real mix of accepts and rejects
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(out.mean(0)) < 4 * sd / np.sqrt(n))
    # variance of (x_i x_j) under a Gaussian: cov_ii cov_jj + cov_ij^2
    emp = out.T @ out / n
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(emp - cov) < 4 * se)


def test_invariance_check_detects_a_biased_step():
    """The same check fails for a step that always accepts (unadjusted Langevin)."""
    model = correlated_gaussian(dim=4, condition_number=20.0, seed=3)
    cov = model.true_cov
    rng = np.random.default_rng(5)
    n = 40_000
    draws = rng.multivariate_normal(np.zeros(4), cov, size=n)
    eps = 0.9
    out = np.empty_like(draws)
    for k in range(n):
        x = draws[k]
        _, g = model.logdensity_and_grad(x)
        out[k] = x + 0.5 * eps**2 * g + eps * rng.standard_normal(4)
    emp = out.T @ out / n
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.any(np.abs(emp - cov) > 4 * se)
