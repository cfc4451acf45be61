"""Each distribution's log density against scipy.stats, its gradients against finite
differences."""

import math

import numpy as np
import pytest
from _stats import fd_grad
from scipy import special, stats

from geobayes.models import distributions as D

# name -> (function, scipy logpdf of (x, *params), list of (x, *params) test points)
CASES = {
    "normal": (
        D.normal_lpdf,
        lambda x, m, s: stats.norm.logpdf(x, m, s),
        [(0.3, -1.0, 2.0), (5.0, 1.0, 0.5), (-2.0, 0.0, 1.0)],
    ),
    "student_t": (
        D.student_t_lpdf,
        lambda x, nu, m, s: stats.t.logpdf(x, nu, m, s),
        [(0.3, 3.0, -1.0, 2.0), (5.0, 0.7, 1.0, 0.5), (-2.0, 30.0, 0.0, 1.0)],
    ),
    "cauchy": (
        D.cauchy_lpdf,
        lambda x, m, s: stats.cauchy.logpdf(x, m, s),
        [(0.3, -1.0, 2.0), (5.0, 1.0, 0.5)],
    ),
    "half_normal": (
        D.half_normal_lpdf,
        lambda x, s: stats.halfnorm.logpdf(x, 0, s),
        [(0.3, 2.0), (5.0, 0.5)],
    ),
    "half_cauchy": (
        D.half_cauchy_lpdf,
        lambda x, s: stats.halfcauchy.logpdf(x, 0, s),
        [(0.3, 2.0), (5.0, 0.5)],
    ),
    "gamma": (
        D.gamma_lpdf,
        lambda x, a, b: stats.gamma.logpdf(x, a, scale=1 / b),
        [(0.3, 2.0, 3.0), (5.0, 0.5, 0.2), (1.2, 7.5, 1.0)],
    ),
    "inv_gamma": (
        D.inv_gamma_lpdf,
        lambda x, a, b: stats.invgamma.logpdf(x, a, scale=b),
        [(0.3, 2.0, 3.0), (5.0, 0.5, 0.2)],
    ),
    "beta": (
        D.beta_lpdf,
        lambda x, a, b: stats.beta.logpdf(x, a, b),
        [(0.3, 2.0, 3.0), (0.9, 0.5, 0.2), (0.05, 4.0, 1.5)],
    ),
    "exponential": (
        D.exponential_lpdf,
        lambda x, r: stats.expon.logpdf(x, scale=1 / r),
        [(0.3, 2.0), (5.0, 0.5)],
    ),
    "lognormal": (
        D.lognormal_lpdf,
        lambda x, m, s: stats.lognorm.logpdf(x, s, scale=np.exp(m)),
        [(0.3, -1.0, 2.0), (5.0, 1.0, 0.5)],
    ),
}

DISCRETE = {
    "bernoulli_logit": (
        D.bernoulli_logit_lpmf,
        # scipy's bernoulli rounds expit(40) to 1 and returns -inf; use the
        # exact form with log_expit for the far tail
        lambda y, eta: y * special.log_expit(eta) + (1 - y) * special.log_expit(-eta),
        [(1.0, 0.3), (0.0, -2.0), (1.0, 40.0), (0.0, 40.0)],
    ),
    "bernoulli_logit_scipy": (
        D.bernoulli_logit_lpmf,
        lambda y, eta: stats.bernoulli.logpmf(y, special.expit(eta)),
        [(1.0, 0.3), (0.0, -2.0), (1.0, 5.0)],
    ),
    "poisson_log": (
        D.poisson_log_lpmf,
        lambda y, eta: stats.poisson.logpmf(y, np.exp(eta)),
        [(0.0, 0.3), (4.0, 1.5), (12.0, 2.0)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_logpdf_matches_scipy_and_gradient(name):
    fn, ref, points = CASES[name]
    for pt in points:
        out = fn(*pt)
        assert out[0] == pytest.approx(ref(*pt), rel=1e-12, abs=1e-12), (name, pt)
        g = fd_grad(lambda v: fn(*v)[0], np.array(pt), eps=1e-6)
        np.testing.assert_allclose(out[1:], g, rtol=1e-6, atol=1e-7, err_msg=f"{name} {pt}")


@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_lpmf_matches_scipy_and_gradient(name):
    fn, ref, points = DISCRETE[name]
    for y, eta in points:
        lp, d_eta = fn(y, eta)
        assert lp == pytest.approx(ref(y, eta), rel=1e-10, abs=1e-12)
        g = (fn(y, eta + 1e-6)[0] - fn(y, eta - 1e-6)[0]) / 2e-6
        assert d_eta == pytest.approx(g, rel=1e-6, abs=1e-8)


def test_binomial_logit():
    for y, n, eta in [(3.0, 10.0, 0.2), (0.0, 5.0, -3.0), (20.0, 20.0, 4.0)]:
        lp, d = D.binomial_logit_lpmf(y, n, eta)
        assert lp == pytest.approx(stats.binom.logpmf(y, n, special.expit(eta)), rel=1e-10)
        g = (
            D.binomial_logit_lpmf(y, n, eta + 1e-6)[0] - D.binomial_logit_lpmf(y, n, eta - 1e-6)[0]
        ) / 2e-6
        assert d == pytest.approx(g, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize(
    "fn,args",
    [
        (D.half_normal_lpdf, (-0.1, 1.0)),
        (D.gamma_lpdf, (-1.0, 2.0, 1.0)),
        (D.beta_lpdf, (1.5, 2.0, 2.0)),
        (D.normal_lpdf, (0.0, 0.0, -1.0)),
        (D.lognormal_lpdf, (0.0, 0.0, 1.0)),
        (D.exponential_lpdf, (-1.0, 1.0)),
    ],
)
def test_outside_support_is_minus_inf(fn, args):
    out = fn(*args)
    assert out[0] == -math.inf
    assert all(v == 0.0 for v in out[1:])


def test_digamma_matches_scipy():
    from geobayes.math.special import digamma

    xs = np.concatenate([np.linspace(0.01, 10, 50), [30.0, 1e3, 1e6]])
    np.testing.assert_allclose(
        [digamma(x) for x in xs], special.digamma(xs), rtol=1e-12, atol=1e-12
    )
