"""Transforms: round trips, log-Jacobians against numerical Jacobians, gradients against FD."""

import numpy as np
import pytest
from _stats import fd_grad

from geobayes.models import transforms as T


@pytest.mark.parametrize("u", [-3.0, -0.2, 0.0, 1.7, 6.0])
def test_scalar_transforms(u):
    for fn, inv, args in [
        (T.lower_bound, T.lower_bound_inverse, (1.5,)),
        (T.interval, T.interval_inverse, (-2.0, 3.0)),
    ]:
        x, logj, dx, dlogj = fn(u, *args)
        assert inv(x, *args) == pytest.approx(u, abs=1e-9)
        h = 1e-6
        num_dx = (fn(u + h, *args)[0] - fn(u - h, *args)[0]) / (2 * h)
        assert dx == pytest.approx(num_dx, rel=1e-6)
        assert logj == pytest.approx(np.log(abs(num_dx)), abs=1e-6)
        assert dlogj == pytest.approx(
            (fn(u + h, *args)[1] - fn(u - h, *args)[1]) / (2 * h), rel=1e-5, abs=1e-7
        )


def _numerical_jacobian(f, u, h=1e-6):
    cols = [(f(u + h * e) - f(u - h * e)) / (2 * h) for e in np.eye(u.size)]
    return np.array(cols).T


def test_ordered():
    rng = np.random.default_rng(0)
    u = rng.normal(size=5)
    x, logj = T.ordered_constrain(u)
    assert np.all(np.diff(x) > 0)
    jac = _numerical_jacobian(lambda v: T.ordered_constrain(v)[0], u)
    assert logj == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)
    a = rng.normal(size=5)

    def f(v):
        xx, lj = T.ordered_constrain(v)
        return np.sin(xx) @ a + lj

    gx = np.cos(x) * a
    np.testing.assert_allclose(T.ordered_grad(u, gx), fd_grad(f, u), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_simplex(k):
    rng = np.random.default_rng(k)
    u = rng.normal(size=k - 1)
    x, logj = T.simplex_constrain(u)
    assert x.sum() == pytest.approx(1.0) and np.all(x > 0)
    np.testing.assert_allclose(T.simplex_constrain(np.zeros(k - 1))[0], np.full(k, 1 / k))
    # the free coordinates are the first K-1; their Jacobian gives the density factor
    jac = _numerical_jacobian(lambda v: T.simplex_constrain(v)[0][:-1], u)
    assert logj == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)
    a = rng.normal(size=k)

    def f(v):
        xx, lj = T.simplex_constrain(v)
        return np.log(xx) @ a + lj

    np.testing.assert_allclose(T.simplex_grad(u, a / x), fd_grad(f, u), rtol=1e-6, atol=1e-7)
