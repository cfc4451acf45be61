"""Resampling schemes (spec §8.6) as properties of the weights (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from reference import filters_ref as ref

from geobayes.math import resampling as rs

weights_st = arrays(
    np.float64,
    st.integers(1, 60),
    elements=st.one_of(st.just(0.0), st.floats(1e-6, 1e3)),
).filter(lambda w: w.sum() > 0)
uniform_st = st.floats(0.0, 1.0, exclude_max=True)


@settings(max_examples=200, deadline=None)
@given(weights_st, uniform_st)
def test_systematic_counts_within_one_of_expectation(w, u):
    n = w.size
    idx = rs.systematic_from_uniform(w, u, n)
    assert idx.shape == (n,) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < n
    assert np.all(np.diff(idx) >= 0)
    counts = rs.counts(idx, n)
    assert counts.sum() == n
    expected = n * w / w.sum()
    assert np.all(np.abs(counts - expected) < 1 + 1e-9)
    assert np.all(counts[w == 0] == 0)
    # deterministic given u; the twin may differ only where a point ties with a cumulative
    # weight up to round-off (different summation order), moving one index by one
    np.testing.assert_array_equal(idx, rs.systematic_from_uniform(w, u, n))
    assert np.abs(counts - rs.counts(ref.systematic(w, u), n)).max() <= 1


def test_systematic_equals_twin_on_generic_weights():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 50, 500):
        w = rng.exponential(size=n)
        w[rng.random(n) < 0.2] = 0.0
        if w.sum() == 0:
            w[0] = 1.0
        for u in rng.random(5):
            np.testing.assert_array_equal(rs.systematic_from_uniform(w, u, n), ref.systematic(w, u))


@settings(max_examples=100, deadline=None)
@given(weights_st, st.integers(0, 2**32 - 1))
def test_stratified_and_multinomial_indices_valid(w, seed):
    n = w.size
    rng = np.random.default_rng(seed)
    for idx in (
        rs.stratified_from_uniforms(w, rng.random(n)),
        rs.multinomial_from_uniforms(w, rng.random(n)),
    ):
        assert idx.shape == (n,) and idx.min() >= 0 and idx.max() < n
        assert rs.counts(idx, n).sum() == n
        assert np.all(rs.counts(idx, n)[w == 0] == 0)
    # stratified counts are within 2 of expectation (one per stratum boundary each side)
    counts = rs.counts(rs.stratified_from_uniforms(w, rng.random(n)), n)
    assert np.all(np.abs(counts - n * w / w.sum()) < 2 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 40), elements=st.floats(-700, 700)), st.floats(-1e3, 1e3))
def test_log_weights_normalise_and_shift_invariant(lw, c):
    nlw, lse = rs.normalize_log_weights(lw)
    assert abs(np.exp(nlw).sum() - 1) < 1e-9
    nlw2, lse2 = rs.normalize_log_weights(lw + c)
    np.testing.assert_allclose(nlw2, nlw, atol=1e-9)
    assert abs(lse2 - lse - c) < 1e-9 * max(1.0, abs(lse))
    ess = rs.effective_sample_size(lw)
    assert 1 - 1e-9 <= ess <= lw.size + 1e-9


def test_systematic_expectation_matches_weights():
    """Averaged over uniforms, counts equal N w exactly (unbiasedness)."""
    w = np.array([0.05, 0.3, 0.0, 0.15, 0.5])
    us = (np.arange(1000) + 0.5) / 1000
    mean_counts = np.mean([rs.counts(rs.systematic_from_uniform(w, u, 5), 5) for u in us], 0)
    np.testing.assert_allclose(mean_counts, 5 * w, atol=2e-3)


def test_generator_versions_follow_numpy_stream():
    w = np.array([0.2, 0.5, 0.3])
    a = rs.systematic(np.random.default_rng(7), w, 3)
    u = np.random.default_rng(7).random()
    np.testing.assert_array_equal(a, rs.systematic_from_uniform(w, u, 3))
