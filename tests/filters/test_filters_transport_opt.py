"""Optimisation variant of the transport filter (filters spec §2.6): known answers.

False-failure budget: fixed seeds (deterministic).  The gain check compares the mean
over independent seeds with the Kalman gain within ``Z_MCSE`` standard errors of that
mean (tests/_stats.py); a fit that does not move (``B = 0``: gain 0) or has a wrong
gradient sign fails by dozens of standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from _stats import Z_MCSE, fd_grad

from geobayes.filters import TransportFilter, filter, models
from geobayes.filters import transport as tk
from geobayes.filters.transport_opt import mmd_objective, opt_setup, optimise_local


@pytest.mark.parametrize("kernel", [tk.GAUSSIAN, tk.INVERSE_MULTIQUADRIC, tk.NEGATIVE_DISTANCE])
def test_objective_gradient_matches_finite_differences(kernel):
    rng = np.random.default_rng(0)
    N, dx, m = 12, 2, 3
    X, Y = rng.normal(size=(N, dx)), rng.normal(size=(N, m))
    perm, pn = tk.derangement(rng, N), tk.derangement(rng, N)
    Dyy, Tx, X0, _, Phi, *_ = opt_setup(
        X, Y, np.zeros((0, 0)), rng.normal(size=m), np.ones(m), np.zeros((0, 0)),
        tk.GAIN_EMPIRICAL, 1.0, 1.5, perm, pn, 5,
    )  # fmt: skip
    h2, ridge, n_lin = 0.7, 0.3, m + dx
    b = 0.3 * rng.normal(size=dx * Phi.shape[1])
    val, grad, mmd = mmd_objective(b, Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, 0.0)
    fd = fd_grad(lambda v: mmd_objective(v, Phi, X0, Tx, Dyy, h2, kernel, ridge, n_lin, 0.0)[0], b)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    assert val > mmd  # the ridge penalty on the RBF coefficients is on


def test_linear_map_recovers_kalman_gain():
    """Linear features, no pre-conditioning: the MMD fit is the Kalman update.

    Static problem ``x ~ N(mu, P)`` (d = 2, correlated), ``y = x_1 + N(0, R)``.  The map
    ``x + B_y y + B_x x`` pushes the product of marginals onto the joint exactly when
    ``B_y`` is the Kalman gain, so the fitted gain, the analysis mean and variance
    match Kalman's up to sampling error.
    """
    rng = np.random.default_rng(11)
    mu, P, R = np.array([1.0, -0.5]), np.array([[2.0, 0.8], [0.8, 1.0]]), 0.5
    ystar = np.array([2.5])
    K = P[:, 0] / (P[0, 0] + R)
    m_a = mu + K * (ystar[0] - mu[0])
    var_a = np.diag(P - np.outer(K, P[0]))
    L = np.linalg.cholesky(P)
    opts = (tk.GAIN_NONE, tk.INVERSE_MULTIQUADRIC, 1.0, 1.0, 200, False, 0, 0.0)
    N, S = 200, 16
    gains, means, vars_ = [], [], []
    for _ in range(S):
        X = mu + rng.normal(size=(N, 2)) @ L.T
        Y = X[:, :1] + np.sqrt(R) * rng.normal(size=(N, 1))
        perm, pn = tk.derangement(rng, N), tk.derangement(rng, N)
        Xa, info = optimise_local(
            X, Y, np.zeros((0, 0)), ystar, np.ones(1), np.zeros((0, 0)), opts, perm, pn
        )
        gains.append(info["gain"][:, 0])
        means.append(Xa.mean(0))
        vars_.append(Xa.var(0, ddof=1))
    for what, est, truth in (("gain", gains, K), ("mean", means, m_a), ("variance", vars_, var_a)):
        est = np.asarray(est)
        se = est.std(0, ddof=1) / np.sqrt(S)
        err = np.abs(est.mean(0) - truth)
        assert np.all(err < Z_MCSE * se), (what, est.mean(0), truth, err / se)
    # the fit moved: far from the no-update answer (gain 0, forecast variance)
    assert np.all(np.abs(np.mean(gains, 0)) > 0.5 * np.abs(K))


def test_optimize_filter_lorenz63_and_localized_lorenz96():
    ssm = models.get("lorenz63")
    x, y = ssm.simulate(150, seed=0)
    t = filter(
        ssm, y, "transport", ensemble_size=100, analysis="optimize", seed=1, truth=x, burn_in=50
    )
    assert t.attrs["rmse_mean"] < 1.0, t.attrs["rmse_mean"]  # obs std sqrt(2); EnKF ~0.55
    st = t.sample_stats
    assert (st["mmd2_final"].values <= st["mmd2_initial"].values + 1e-12).all()
    assert st["n_flow_steps"].values.max() > 0
    l96 = models.get("lorenz96")
    x, y = l96.simulate(60, seed=1)
    t = filter(
        l96, y, "transport", ensemble_size=20, analysis="optimize", localization_radius=4.0,
        inflation=1.04, obs_weight=2.0, seed=2, truth=x, burn_in=30,
    )  # fmt: skip
    assert t.attrs["rmse_mean"] < 0.5, t.attrs["rmse_mean"]  # obs std 1, LETKF ~0.25


def test_optimize_options_and_cli(capsys):
    import argparse

    from geobayes.cli import filter_cmds

    assert TransportFilter(analysis="optimize").analysis.value == "optimize"
    for bad in (
        dict(analysis="newton"),
        dict(analysis="optimize", n_pairings=2),
        dict(regression="kernel_scale"),
        dict(analysis="optimize", regression="kernel", localization_radius=4.0),
        dict(ridge=-1.0),
        dict(rbf_centres=-1),
    ):
        with pytest.raises(ValueError):
            TransportFilter(**bad)
    parser = argparse.ArgumentParser(prog="geobayes")
    filter_cmds.register(parser.add_subparsers(dest="command"))
    argv = (
        "filter lorenz63_cubic --method transport --ensemble-size 100 --param analysis=optimize "
        "--cycles 20 --no-progress"
    )
    args = parser.parse_args(argv.split())
    assert args.func(args) == 0
    assert "transport on lorenz63_cubic: 20 cycles, rmse" in capsys.readouterr().out


def test_heteroscedastic_rescaling_matches_dense_formula():
    """``regression="kernel_scale"``: residuals rescaled to the conditional scale at y*.

    Exact check against the dense Nadaraya-Watson formula (median-heuristic bandwidth),
    then a direction check on ``x = exp(y) eps``, ``y ~ U(-1, 1)``: the rescaled
    residuals' scale moves from the marginal one (~1.2) towards ``s(y*) = exp(0.8) = 2.2``
    (the broad median bandwidth smooths ``s``, so it is not reached exactly).
    """
    from geobayes.filters.transport_opt import _rescale_residuals

    rng = np.random.default_rng(3)
    N, ystar = 400, 0.8
    y = rng.uniform(-1.0, 1.0, N)
    x = np.exp(y)[:, None] * rng.normal(size=(N, 2))
    D = np.empty((N + 1, N))
    D[:N] = (y[:, None] - y[None, :]) ** 2
    D[N] = (ystar - y) ** 2
    Tx = x.copy()
    _rescale_residuals(D, Tx)
    hy2 = np.median(D[:N][np.triu_indices(N, 1)])
    W = np.exp(-0.5 * D / hy2)
    s2 = (W @ x**2) / W.sum(1, keepdims=True)
    np.testing.assert_allclose(Tx, x * np.sqrt(s2[N] / s2[:N]), rtol=1e-10)
    raw, new, target = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(Tx**2)), np.exp(ystar)
    assert abs(new - target) < 0.85 * abs(raw - target), (raw, new, target)
