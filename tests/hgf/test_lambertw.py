"""Jitted Lambert W0 against scipy.special.lambertw and its defining identity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import lambertw

from geobayes.filters.hgf import lambertw0, lambertw0_log
from geobayes.filters.hgf._kernels import _w0log


def _rel(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def test_special_values():
    assert lambertw0(0.0) == 0.0
    assert lambertw0_log(-np.inf) == 0.0
    assert abs(lambertw0(math.e) - 1.0) < 1e-15
    assert abs(lambertw0_log(1.0) - 1.0) < 1e-15
    assert lambertw0(np.inf) == np.inf
    assert math.isnan(lambertw0(-1.0)) and math.isnan(lambertw0(np.nan))


def test_against_scipy_over_whole_range():
    # every regime: series (< 1e-8), Halley (<= e), log form (> e); boundaries included
    z = np.concatenate(
        [
            [
                1e-300,
                1e-10,
                1e-8 * (1 - 1e-15),
                1e-8,
                0.5,
                math.e * (1 - 1e-16),
                math.e,
                math.e * (1 + 1e-15),
                3.0,
                1e300,
            ],
            np.logspace(-300, 300, 6001),
        ]
    )
    ours = np.array([lambertw0(x) for x in z])
    ref = lambertw(z, 0).real
    assert _rel(ours, ref).max() < 1e-12
    # identity w e^w = z, in log form to avoid overflow: log w + w = log z
    w = ours[z > 1e-8]
    zz = z[z > 1e-8]
    assert np.max(np.abs(np.log(w) + w - np.log(zz)) / np.maximum(1.0, np.log(zz))) < 1e-12


def test_log_form_matches_scipy_and_beyond_overflow():
    L = np.linspace(-690.0, 690.0, 4001)
    ours = np.array([lambertw0_log(x) for x in L])
    assert _rel(ours, lambertw(np.exp(L), 0).real).max() < 1e-12
    # far beyond float range of z = e^L: check w + log w = L
    L = np.logspace(np.log10(710.0), 300, 400)
    w = np.array([lambertw0_log(x) for x in L])
    assert np.all(np.isfinite(w))
    assert np.max(np.abs(w + np.log(w) - L) / L) < 1e-14


@pytest.mark.parametrize("L", [-30.0, -1.0, 0.3, 1.0, 5.0, 50.0, 800.0])
def test_complex_step_derivative(L):
    """The complex-step wrapper used for gradients carries dW/dL = W / (1 + W)."""
    h = 1e-30
    val = _w0log(complex(L, h))
    w = lambertw0_log(L)
    assert val.real == w
    assert abs(val.imag / h - w / (1.0 + w)) <= 1e-14 * max(1.0, w / (1.0 + w))


def test_direct_table_form_over_its_range_and_edges():
    """lambertw0_pos (table of polynomials in the mantissa) against scipy: every
    octave and piece of the table, the piece and octave boundaries, and both sides of
    the table (series below 2^-20, log form from 2^64)."""
    from geobayes.filters.hgf.lambertw import lambertw0_pos

    rng = np.random.default_rng(7)
    e = np.arange(-24, 70)
    edges = np.concatenate([2.0**e * (1.0 + j / 8.0) for j in range(8)])
    z = np.concatenate(
        [
            np.exp(rng.uniform(np.log(2.0**-30), np.log(2.0**80), 200_000)),
            edges,
            np.nextafter(edges, 0.0),
            [1e-300, 1e-20, 1e200, 1e300],
        ]
    )
    ours = np.array([lambertw0_pos(x) for x in z])
    assert _rel(ours, lambertw(z, 0).real).max() < 1e-14


@pytest.mark.parametrize("z", [1e-9, 0.3, 1.0, 7.0, 1e5, 1e25, 1e100])
def test_complex_step_derivative_direct_form(z):
    """dW/dz = W / (z (1 + W)) through the complex-step wrapper of the direct form."""
    from geobayes.filters.hgf._kernels import _w0z

    h = 1e-30 * z
    val = _w0z(complex(z, h))
    w = lambertw(z, 0).real
    assert abs(val.real - w) <= 1e-14 * w
    assert abs(val.imag / h - w / (z * (1.0 + w))) <= 1e-13 * w / (z * (1.0 + w))
