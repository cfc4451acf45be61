"""HGF parameter fitting: log density, complex-step gradient, recovery by HMC."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

import geobayes
from geobayes.filters import hgf
from geobayes.filters.hgf.fit import hgf_model


def _fd_grad(model, theta, h=1e-5):
    g = np.zeros_like(theta)
    h = np.broadcast_to(h, theta.shape)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h[i]
        g[i] = (model.logdensity(theta + e) - model.logdensity(theta - e)) / (2 * h[i])
    return g


def _usdchf():
    from ._helpers import ref_available, usdchf

    if ref_available():
        return usdchf()
    return 1.0 + np.cumsum(np.random.default_rng(5).normal(0, 0.005, 614))


@pytest.mark.parametrize("update", ["robust", "classic", "ehgf"])
def test_value_and_gradient_continuous(update):
    """Central differences (h = 1e-5; 1e-7 for the drift, whose curvature is ~T^2
    larger) have truncation error ~h^2 |f'''| and rounding
    error ~eps |f| / h ~ 1e-8 relative here; the complex-step gradient is exact to
    rounding, so they agree to 1e-6 relative."""
    u = _usdchf()
    names = [
        "omega_x1",
        "omega_x2",
        "omega_x3",
        "kappa_x1",
        "kappa_x2",
        "pi_u_u",
        "rho_x1",
        "mu0_x2",
        "pi0_x2",
    ]
    model = hgf_model(hgf.continuous_hgf(3), u, names, update=update)
    theta = np.array(
        [-3.5, -2.5, -4.0, np.log(0.8), np.log(1.2), np.log(5e3), 1e-4, 0.1, np.log(2.0)]
    )
    lp, g = model.logdensity_and_grad(theta)
    # value: minus the total observation surprise of run() plus the priors
    net = hgf.continuous_hgf(
        3,
        tonic_volatility=[-3.5, -2.5, -4.0],
        volatility_coupling=[0.8, 1.2],
        input_precision=5e3,
        tonic_drift=[1e-4, 0.0, 0.0],
        mean=[0.0, 0.1, 0.0],
        precision=[1.0, 2.0, 1.0],
    )
    tree = hgf.run(net, u, update=update)
    prior = norm.logpdf(
        theta, [-3, -3, -3, 0, 0, np.log(1e4), 0, 0, 0], [2, 2, 2, 0.5, 0.5, 1, 1, 1, 1]
    ).sum()
    np.testing.assert_allclose(lp, -tree.attrs["total_surprise"] + prior, rtol=1e-12)
    fd = _fd_grad(model, theta, h=np.where(np.array(names) == "rho_x1", 1e-7, 1e-5))
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(g).max())
    # pointwise log-likelihood (for arviz.loo) adds up to the likelihood part
    pw = model.pointwise_loglik(theta, model.fdata, model.idata)
    np.testing.assert_allclose(pw.sum(), lp - prior, rtol=1e-12)


def test_gradient_binary_with_responses():
    rng = np.random.default_rng(0)
    u = (rng.uniform(size=200) < 0.7).astype(float)
    y = (rng.uniform(size=200) < 0.6).astype(float)
    y[::17] = np.nan  # missing responses are skipped
    for lik in ("responses", "both", "observations"):
        model = hgf_model(
            hgf.binary_hgf(3),
            u,
            ["zeta", "omega_x2", "omega_x3", "kappa_x2"],
            responses=y,
            likelihood=lik,
        )
        theta = np.array([np.log(2.5), -2.0, -5.0, np.log(1.3)])
        lp, g = model.logdensity_and_grad(theta)
        assert np.isfinite(lp)
        np.testing.assert_allclose(
            g, _fd_grad(model, theta), rtol=1e-6, atol=1e-6 * np.abs(g).max()
        )
    # the response likelihood does not depend on zeta's gradient when only observations count
    assert g[0] == pytest.approx(-(theta[0] - 0.0) / 1.0)


def test_failed_classic_run_has_minus_infinity():
    u = np.r_[np.zeros(50), np.full(20, 0.525)]
    model = hgf_model(hgf.continuous_hgf(2), u, ["omega_x1"], update="classic")
    lp, g = model.logdensity_and_grad(np.array([-3.0]))
    assert lp == -np.inf and np.all(g == 0)
    lp_r, _ = hgf_model(hgf.continuous_hgf(2), u, ["omega_x1"]).logdensity_and_grad(
        np.array([-3.0])
    )
    assert np.isfinite(lp_r)


def test_bad_fit_arguments():
    u = np.zeros(10)
    net = hgf.continuous_hgf(2)
    with pytest.raises(ValueError, match="unknown HGF parameter 'omega_x9'"):
        hgf_model(net, u, ["omega_x9"])
    with pytest.raises(ValueError, match="not free"):
        hgf_model(net, u, ["omega_x1"], priors={"omega_x2": (0, 1)})
    with pytest.raises(ValueError, match="sd > 0"):
        hgf_model(net, u, ["omega_x1"], priors={"omega_x1": (0, -1)})
    with pytest.raises(ValueError, match="needs responses"):
        hgf_model(net, u, ["omega_x1"], likelihood="responses")
    with pytest.raises(ValueError, match="binary input"):
        hgf_model(net, u, ["zeta"], responses=np.zeros(10))
    with pytest.raises(ValueError, match="duplicate"):
        hgf_model(net, u, ["omega_x1", "omega_x1"])


def test_constrain_and_defaults():
    model = hgf_model(hgf.continuous_hgf(3), np.zeros(20))
    assert list(model.params) == ["omega_x1", "omega_x2", "omega_x3", "kappa_x1_x2", "kappa_x2_x3"]
    out = model.constrain(np.array([[-3.0, -2.0, -1.0, np.log(2.0), 0.0]]))
    np.testing.assert_allclose(out["kappa_x1_x2"], [2.0])
    np.testing.assert_allclose(out["omega_x3"], [-1.0])


def test_recovers_tonic_volatilities_from_simulated_data():
    """600 steps simulated from a 2-level HGF (omega = -5, -6); HMC, 2 x 300 draws.

    x2's initial precision is 100 in both networks: with a vague x2 start, omega_1 and
    the level of x2 are confounded (only kappa x2 + omega_1 is identified).  Measured:
    omega_x1 -5.03 +- 0.24, omega_x2 -7.1 +- 0.63.  Checks: truth inside mean +- 3 sd,
    omega_x1 sharply identified (sd < 0.5), chains agree (R-hat < 1.05)."""
    truth = hgf.continuous_hgf(2, tonic_volatility=[-5.0, -6.0], precision=[1.0, 100.0])
    _, u = hgf.simulate(truth, 600, seed=1)
    model = hgf_model(hgf.continuous_hgf(2, precision=[1.0, 100.0]), u, ["omega_x1", "omega_x2"])
    tr = geobayes.sample(model, "hmc", draws=300, warmup=300, chains=2, seed=1, progress=False)
    post = tr["posterior"]
    for name, true in (("omega_x1", -5.0), ("omega_x2", -6.0)):
        x = post[name].values
        assert abs(x.mean() - true) < 3 * x.std(), (name, x.mean(), x.std())
        chain_means = x.mean(axis=1)
        assert abs(chain_means[0] - chain_means[1]) < 0.5 * x.std() + 0.2
    assert post["omega_x1"].values.std() < 0.5


def test_recovers_response_temperature():
    """Binary HGF beliefs, responses from a softmax with zeta = 3 (400 trials)."""
    net = hgf.binary_hgf(3)
    rng = np.random.default_rng(0)
    p = np.repeat(np.tile([0.8, 0.2], 5), 40)
    u = (rng.uniform(size=p.size) < p).astype(float)
    mh = net.run_filter(u)["predicted"]["mean"].sel(node="x1").values
    zeta = 3.0
    y = (rng.uniform(size=u.size) < mh**zeta / (mh**zeta + (1 - mh) ** zeta)).astype(float)
    model = hgf_model(net, u, ["zeta"], responses=y)
    tr = geobayes.sample(model, "hmc", draws=300, warmup=300, chains=2, seed=1, progress=False)
    z = tr["posterior"]["zeta"].values
    assert abs(z.mean() - zeta) < 3 * z.std()
    assert z.std() < 0.6


def test_gradient_noisy_binary_input():
    rng = np.random.default_rng(1)
    y = (rng.uniform(size=150) < 0.7) + rng.normal(0, 0.5, 150)
    model = hgf_model(
        hgf.binary_hgf(3, input_precision=4.0), y, ["pi_u_x1", "omega_x2", "omega_x3"]
    )
    theta = np.array([np.log(3.0), -2.5, -4.0])
    lp, g = model.logdensity_and_grad(theta)
    assert np.isfinite(lp)
    np.testing.assert_allclose(g, _fd_grad(model, theta), rtol=1e-6, atol=1e-6 * np.abs(g).max())
