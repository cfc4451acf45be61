"""Built-in models: gradients against finite differences, log densities against NumPy twins,
registry and user-model errors."""

import numba
import numpy as np
import pytest
from _stats import fd_grad
from reference import models_ref as ref

import geobayes
from geobayes.models import available, get


@pytest.mark.parametrize("name", available())
def test_gradient_matches_finite_differences(name):
    model = get(name)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.uniform(-1.5, 1.5, model.dim)
        lp, g = model.logdensity_and_grad(theta)
        assert np.isfinite(lp)
        np.testing.assert_allclose(g, fd_grad(model.logdensity, theta, 1e-6), rtol=1e-5, atol=1e-5)


def _diff_const(f_ours, f_ref, points):
    """Log densities may differ by a constant only."""
    d = [f_ours(p) - f_ref(p) for p in points]
    np.testing.assert_allclose(d, d[0], atol=1e-9)


def test_eight_schools_against_scipy():
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(4, 10))
    from geobayes.models.eight_schools import EIGHT_SCHOOLS_SIGMA, EIGHT_SCHOOLS_Y

    y, s = EIGHT_SCHOOLS_Y, EIGHT_SCHOOLS_SIGMA
    nc, c = get("eight_schools_noncentered"), get("eight_schools_centered")
    for p in pts:  # normalizing constants included: exact agreement
        assert nc.logdensity(p) == pytest.approx(ref.eight_schools_noncentered(p, y, s), rel=1e-12)
        assert c.logdensity(p) == pytest.approx(ref.eight_schools_centered(p, y, s), rel=1e-12)
    draws = nc.constrain(pts)
    np.testing.assert_allclose(draws["theta"], pts[:, :1] + np.exp(pts[:, 1:2]) * pts[:, 2:])


def test_other_models_against_numpy_twins():
    rng = np.random.default_rng(3)
    m = get("logistic_regression", n=50, dim=3, seed=4)
    X = m.fdata[:150].reshape(50, 3)
    y = m.fdata[150:200]
    _diff_const(m.logdensity, lambda b: ref.logistic(b, X, y, 2.5), rng.normal(size=(3, 3)))
    f = get("funnel")
    _diff_const(f.logdensity, ref.funnel, rng.normal(size=(3, 10)))
    mix = get("mixture_2d")
    _diff_const(
        mix.logdensity,
        lambda t: ref.mixture(t, [0.7, 0.3], [[-2, -1], [2, 1.5]], [0.5, 0.5]),
        rng.normal(size=(3, 2)),
    )
    g = get("correlated_gaussian", dim=5, condition_number=20.0)
    cov = g.true_cov
    assert np.linalg.cond(cov) == pytest.approx(20.0, rel=1e-9)
    from scipy import stats

    _diff_const(
        g.logdensity,
        lambda t: stats.multivariate_normal.logpdf(t, np.zeros(5), cov),
        rng.normal(size=(3, 5)),
    )


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model 'nope'; available models: .*banana"):
        get("nope")
    with pytest.raises(TypeError, match="bad arguments for model 'gaussian'"):
        get("gaussian", dimension=3)
    with pytest.raises(ValueError, match="dim must be >= 1"):
        get("gaussian", dim=0)


def test_user_model_one_and_three_arguments():
    @numba.njit
    def lpg1(theta):
        return -0.5 * theta @ theta, -theta

    @numba.njit
    def lpg3(theta, fdata, idata):
        return -0.5 * fdata[0] * (theta @ theta), -fdata[0] * theta

    m1 = geobayes.Model(lpg1, {"a": (), "b": (2,)})
    assert m1.dim == 3 and m1.logdensity(np.ones(3)) == -1.5
    m3 = geobayes.Model(lpg3, {"x": (2,)}, data=(np.array([2.0]), np.zeros(0, dtype=np.int64)))
    assert m3.logdensity(np.ones(2)) == -2.0
    assert set(m1.constrain(np.zeros((4, 3)))) == {"a", "b"}
    assert m1.constrain(np.zeros((4, 3)))["b"].shape == (4, 2)


def test_user_model_errors():
    with pytest.raises(TypeError, match="Numba-jitted function"):
        geobayes.Model(lambda t: (0.0, t), {"x": (2,)})

    @numba.njit
    def wrong_return(theta):
        return theta @ theta

    with pytest.raises(TypeError, match="must return"):
        geobayes.Model(wrong_return, {"x": (2,)})

    @numba.njit
    def wrong_args(theta, a, b, c):
        return 0.0, theta

    with pytest.raises(TypeError, match="could not be compiled"):
        geobayes.Model(wrong_args, {"x": (2,)})

    @numba.njit
    def short_grad(theta):
        return 0.0, theta[:1].copy()

    m = geobayes.Model(short_grad, {"x": (2,)})
    with pytest.raises(ValueError, match="gradient of shape"):
        m.logdensity_and_grad(np.zeros(2))
    with pytest.raises(ValueError, match=r"theta must have shape \(2,\)"):
        m.logdensity_and_grad(np.zeros(3))
    with pytest.raises(TypeError, match="params must be"):
        geobayes.Model(short_grad, [])
    with pytest.raises(ValueError, match="non-positive size"):
        geobayes.Model(short_grad, {"x": (0,)})


def test_eager_signature_functions_are_accepted():
    from geobayes.types import LPG_SIG

    @numba.njit(LPG_SIG)
    def eager(theta, fdata, idata):
        return -0.5 * (theta @ theta), -theta

    m = geobayes.Model(eager, {"x": (2,)})
    assert m.logdensity(np.ones(2)) == -1.0

    @numba.njit("float64(float64[::1])")
    def eager_wrong(theta):
        return 0.0

    with pytest.raises(TypeError, match="could not be compiled|must return"):
        geobayes.Model(eager_wrong, {"x": (2,)})
