"""Single volatility updates: positivity, agreement for small errors, accuracy (KL).

``single_update`` runs the same ``_vol_single`` code as the network kernel for one
parent with one volatility child (mean-field prediction, t = 1), vectorised over
cases.  Grids follow spec ``hgf.md`` §7; ``mu_hat`` and ``omega`` only enter through
``kappa mu_hat + omega`` (a shift of the parent's axis), so the KL study fixes
``mu_hat = 0`` and lets ``omega`` cover the shift.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geobayes.filters.hgf import _kernels as K


def _grid():
    """The §7 positivity grid: 9 x 7 x 5 x 6 x 10 x 10 = 189,000 cases."""
    mh = np.linspace(-10, 10, 9)
    ph = 10.0 ** np.arange(-3, 4)
    ka = np.array([0.1, 0.5, 1.0, 2.0, 4.0])
    om = np.array([-10.0, -7.0, -4.0, -1.0, 2.0, 5.0])
    al = 10.0 ** np.arange(-6, 4)
    ra = 10.0 ** np.linspace(-6, 12, 10)
    c = np.array(list(itertools.product(mh, ph, ka, om, al, ra)))
    mh, ph, ka, om, al, ra = (np.ascontiguousarray(x) for x in c.T)
    return mh, ph, ka, om, al, al * ra


def _run(update, mh, ph, ka, om, al, be):
    return K.single_update(update, mh, ph, ka, om, al, be)


def test_robust_positive_on_spec_grid_and_classic_fails_on_part():
    mh, ph, ka, om, al, be = _grid()
    mu_r, pi_r = _run(K.ROBUST, mh, ph, ka, om, al, be)
    assert np.all(np.isfinite(pi_r)) and np.all(pi_r > 0) and np.all(np.isfinite(mu_r))
    assert np.all(pi_r <= 1e10 * (1 + 1e-12) + ph)  # the cap only (robust never blows up)
    mu_c, pi_c = _run(K.CLASSIC, mh, ph, ka, om, al, be)
    bad = ~(pi_c > 1e-128)
    frac = bad.mean()
    print(f"classic non-positive precision on {100 * frac:.1f} % of {bad.size} grid cases")
    # classic must fail on a substantial part of the grid (17.8 % measured), never all
    assert 0.05 < frac < 0.6
    # the failure criterion of spec 2.4: pi_j <= 0 iff Delta >= (g + 2 ph/(k^2 g)) / (1 - 2g)
    v = np.exp(ka * mh + om)
    g = v / (al + v)
    D = be / (al + v) - 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        crit = (g < 0.5) & (D >= (g + 2 * ph / (ka**2 * g)) / (1 - 2 * g))
    clear = np.abs(pi_c) > 1e-9 * (ph + ka**2 * (1 + np.abs(D)))  # away from rounding ties
    assert np.array_equal(crit[clear], (pi_c <= 0)[clear])


def test_fast_robust_form_equals_careful_form():
    """The robust update's latency-tuned form (W0 from a table, no selects) gives the
    numbers of the overflow-safe form wherever it applies, and the network kernel
    falls back to the latter elsewhere: compare both over the whole spec grid."""
    mh, ph, ka, om, al, be = _grid()
    mu, pi = _run(K.ROBUST, mh, ph, ka, om, al, be)
    lv0 = ka * mh + om
    sig = np.maximum(al, 1e-128)
    v = np.exp(lv0)
    dl = be / (al + v) - 1.0
    cols = (mh, ph, 1.0 / ph, ka, 1.0 / ka, lv0, -np.ones_like(mh), sig, be, dl)
    ref = np.array([K._robust_careful(*c)[::2] for c in zip(*cols, strict=True)])
    np.testing.assert_allclose(pi, ref[:, 0], rtol=1e-11)
    err = np.abs(mu - ref[:, 1]) / (np.abs(ref[:, 1]) + 1.0 / np.sqrt(ph))  # or per prior sd
    assert err.max() < 1e-11, err.max()
    # how much of the grid the fast form covers (the rest went to the careful form)
    h = 0.5 * ka**2 / ph
    with np.errstate(over="ignore"):
        z = be * h * np.exp(h - lv0)
    fast = (z >= 2.0**-20) & (z < 2.0**64)
    print(f"fast robust form applies to {100 * fast.mean():.1f} % of the grid")
    assert fast.mean() > 0.3


big = st.floats(-6, 12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mh=st.floats(-50, 50),
    lph=st.floats(-6, 6),
    ka=st.floats(0.01, 8.0),
    om=st.floats(-30, 15),
    lal=st.floats(-12, 6),
    lra=st.floats(-12, 16),
)
def test_robust_positive_property(mh, lph, ka, om, lal, lra):
    """Beyond the grid: wider ranges of every input, precision finite and positive."""
    a = lambda x: np.array([x], float)  # noqa: E731
    al = 10.0**lal
    mu, pi = _run(K.ROBUST, a(mh), a(10.0**lph), a(ka), a(om), a(al), a(al * 10.0**lra))
    assert np.isfinite(pi[0]) and pi[0] > 0 and np.isfinite(mu[0])


def test_small_errors_robust_agrees_with_classic():
    """|Delta| < 0.1 and q = pi_hat / kappa^2 >= 4: the expansions agree with classic.

    Calibration (spec §7.2 tolerances): with q >= 4 the largest differences over this
    grid are 0.0016 posterior sds in the mean and 6.5 % in precision.  For smaller q
    they differ by design: expansion 1 uses the curvature w(1 - w) where classic uses
    w^2 at Delta = 0 (e.g. pi_hat = 1e-3, kappa = 4: 0.55 against 0.002).
    """
    rng = np.random.default_rng(0)
    ph_ = 10.0 ** np.arange(-3, 3.5, 0.5)
    c = np.array(
        list(
            itertools.product(
                np.linspace(-10, 10, 5),
                ph_,
                [0.1, 0.5, 1, 2, 4],
                np.arange(-10, 5.5, 1.5),
                10.0 ** np.arange(-6, 3.5),
            )
        )
    )
    mh, ph, ka, om, al = (np.ascontiguousarray(x) for x in c.T)
    v = np.exp(ka * mh + om)
    D = rng.uniform(-0.1, 0.1, mh.size)
    be = (D + 1.0) * (al + v)
    mu_c, pi_c = _run(K.CLASSIC, mh, ph, ka, om, al, be)
    mu_r, pi_r = _run(K.ROBUST, mh, ph, ka, om, al, be)
    reg = (pi_c > 0.5 * ph) & (ph >= 4 * ka**2)
    assert reg.sum() > 10000
    dmu = np.abs(mu_r - mu_c)[reg] * np.sqrt(pi_c[reg])
    dpi = np.abs(pi_r / pi_c - 1.0)[reg]
    print(f"small errors: max |dmu| sqrt(pi) = {dmu.max():.2e}, max |dpi/pi| = {dpi.max():.3f}")
    assert dmu.max() <= 0.05
    assert dpi.max() <= 0.1
    # and as Delta -> 0 the classic tends to (mu_hat, pi_hat + k^2 w^2 / 2) exactly
    be0 = al + v
    mu0, pi0 = _run(K.CLASSIC, mh, ph, ka, om, al, be0)
    w = v / (al + v)
    np.testing.assert_allclose(pi0, ph + 0.5 * ka**2 * w**2, rtol=1e-12)
    np.testing.assert_allclose(mu0, mh, atol=1e-12)


# ------------------------------------------------------------------ KL study
def _energy(x, mh, ph, ka, om, al, be):
    la = np.logaddexp(np.log(al), ka * x + om)
    return -0.5 * la - 0.5 * be * np.exp(-la) - 0.5 * ph * (x - mh) ** 2


def _exact(mh, ph, ka, om, al, be, mref):
    """Exact variational posterior exp(I(x)) on an adaptive grid: a wide pass to find
    the mass (+-15 prior sds around the prior mean and the robust mean), then 4001
    points over +-14 posterior sds."""
    sd0 = 1.0 / np.sqrt(ph)
    x = np.linspace(min(mh, mref) - 15 * sd0, max(mh, mref) + 15 * sd0, 6001)
    e = _energy(x, mh, ph, ka, om, al, be)
    p = np.exp(e - e.max())
    p /= np.trapezoid(p, x)
    m = np.trapezoid(x * p, x)
    s = np.sqrt(np.trapezoid((x - m) ** 2 * p, x))
    x = np.linspace(m - 14 * s, m + 14 * s, 4001)
    lp = _energy(x, mh, ph, ka, om, al, be)
    lp -= lp.max()
    lp -= np.log(np.trapezoid(np.exp(lp), x))
    return x, lp


def _kl(x, lp, mu, pi):
    lq = 0.5 * np.log(pi / (2 * np.pi)) - 0.5 * pi * (x - mu) ** 2
    return np.trapezoid(np.exp(lp) * (lp - lq), x)


def _kl_study(ph_, ka_, om_, al_, ra_):
    c = np.array(list(itertools.product([0.0], ph_, ka_, om_, al_, ra_)))
    mh, ph, ka, om, al, ra = (np.ascontiguousarray(x) for x in c.T)
    be = al * ra
    res = {}
    for name, upd in (("classic", K.CLASSIC), ("robust", K.ROBUST)):
        mu, pi = _run(upd, mh, ph, ka, om, al, be)
        res[name] = (mu, pi, np.full(mh.size, np.nan))
    for i in range(mh.size):
        x, lp = _exact(mh[i], ph[i], ka[i], om[i], al[i], be[i], res["robust"][0][i])
        for mu, pi, kl in res.values():
            if np.isfinite(pi[i]) and pi[i] > 0 and np.isfinite(mu[i]):
                kl[i] = _kl(x, lp, mu[i], pi[i])
    return {k: v[2] for k, v in res.items()}


def _report(tag, kls):
    kc, kr = kls["classic"], kls["robust"]
    valid = np.isfinite(kc)
    print(
        f"{tag}: coverage classic {100 * valid.mean():.1f} %, robust "
        f"{100 * np.isfinite(kr).mean():.1f} %; mean KL where classic valid: classic "
        f"{kc[valid].mean():.4g}, robust {kr[valid].mean():.4g}; medians "
        f"{np.median(kc[valid]):.4g}"
        f" / {np.median(kr[valid]):.4g}; robust mean KL over all {np.nanmean(kr):.4g}"
    )
    return kc, kr, valid


@pytest.mark.slow
def test_kl_against_exact_posterior_spec_grid():
    """Spec §7.3 on the §7 ranges (10,290 cases).  Measured: coverage classic 78.2 %,
    robust 100 %; mean KL where classic is valid: classic ~1e11 (blow-ups near the
    failure boundary), robust 3.6; medians 0.093 vs 0.0011.  The robust mean is dominated
    by pi_hat = 1e-3 cases whose exact posterior is a broad half-Gaussian no single
    expansion captures (the paper's 0.023 / 1.34 come from its own simulation grid)."""
    kls = _kl_study(
        10.0 ** np.arange(-3, 4),
        [0.1, 0.5, 1.0, 2.0, 4.0],
        [-10.0, -7.0, -4.0, -1.0, 2.0, 5.0],
        10.0 ** np.arange(-6, 4, 1.5),
        10.0 ** np.arange(-6, 13, 3.0),
    )
    kc, kr, valid = _report("spec grid", kls)
    assert np.all(np.isfinite(kr))
    assert 0.6 < valid.mean() < 0.95
    assert kr[valid].mean() < kc[valid].mean()
    assert np.median(kr[valid]) < np.median(kc[valid])


def test_kl_against_exact_posterior_typical_range():
    """A realistic range (prior precisions 0.1-100, kappa 0.5-2, surprises up to 1e4):
    the robust update is accurate (mean KL < 0.1) and better than classic."""
    kls = _kl_study(
        10.0 ** np.arange(-1, 2.5, 0.5),
        [0.5, 1.0, 2.0],
        [-6.0, -3.0, 0.0],
        10.0 ** np.arange(-4, 1, 1.0),
        10.0 ** np.arange(-2, 4.5, 0.5),
    )
    kc, kr, valid = _report("typical range", kls)
    assert np.all(np.isfinite(kr))
    assert kr[valid].mean() < kc[valid].mean()
    assert np.nanmean(kr) < 0.1
