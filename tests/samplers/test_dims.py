"""DIMS: the properties of spec section 3.7 as corrected by section 3.10.

Known answers: closed-form minimum sets (circle, hyperbola, flat valley), the analytic
travel distance ``s/gamma`` along a flat floor, the energy identity ``dE/dt <= 0``, the
heavy-ball ODE's exact solution on a quadratic, conservation of ``v^T G v`` by the
geodesic flow, and ``sqrt(K0)/gamma`` for the angular spread on the circle.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

import geobayes
from geobayes.models import Model
from geobayes.models.loss_surfaces import flat_valley, hyperbola, ring, ring_lpg
from geobayes.models.mlp import mlp_classification, mlp_regression
from geobayes.samplers import _dims_kernels as K
from geobayes.samplers.dims import DIMS, Geometry, Integrator, converged


def _params(model, x0, **kw):
    return DIMS(find_minimum=False, **kw).resolve(model, np.asarray(x0, float)).params_array()


def _chains(model, x0, n_chains, n_draws, seed=0, **kw):
    """``n_chains`` kick-dissipate chains of ``n_draws`` from ``x0`` (kernel level)."""
    p = _params(model, x0, **kw)
    x0 = np.ascontiguousarray(x0, dtype=float)
    out_x = np.zeros((n_chains, n_draws, model.dim))
    out_s = np.zeros((n_chains, n_draws, K.N_EXTRA))
    for c, rng in enumerate(np.random.default_rng(seed).spawn(n_chains)):
        K.dims_chain(rng, x0, model.lpg, model.fdata, model.idata, p, out_x[c], out_s[c])
    return out_x, out_s


def _col(stats, name):
    return stats[..., K.EXTRA_STAT_NAMES.index(name)]


def _integrate(model, x0, v0, p, n_rec):
    x0 = np.ascontiguousarray(x0, dtype=float)
    loss, g = model.loss_and_grad(x0)
    rec = np.zeros((n_rec, 2 * model.dim + 3))
    st = np.zeros(K.N_EXTRA)
    x, v, loss, g, n = K.dims_integrate(
        model.lpg, x0, np.asarray(v0, float), loss, g, model.fdata, model.idata, p, st, rec
    )
    return x, st, rec[:n]


# -- 1 and 4: energy dissipation and the energy bound ------------------------------------------
def test_energy_dissipates_every_step_with_fixed_small_step():
    m = ring()
    omega = math.sqrt(2.0)
    p = _params(m, [1.0, 0.0], kinetic_energy=0.2, step_size=0.03 / omega, adaptive=False)
    x, st, rec = _integrate(m, [1.0, 0.0], [0.3, 0.5], p, 100_000)
    assert st[K.S_HIT] == 0 and rec.shape[0] > 100
    e = rec[:, 2]
    assert np.all(np.diff(e) <= 1e-6 * np.abs(e[:-1]))
    assert e[-1] < 1e-9 * e[0]  # and it does dissipate


def test_energy_bound_and_safeguard_on_the_hyperbola():
    m = hyperbola()
    k0 = 0.5
    xs, st = _chains(m, [1.0, 1.0], 8, 20, kinetic_energy=k0)
    start_loss = np.concatenate([np.zeros((8, 1)), _col(st, "loss")[:, :-1]], axis=1)
    assert np.all(_col(st, "loss_max") <= start_loss + k0 / 1.0 + 1e-6 * k0)
    # the adaptive safeguard keeps every accepted step within tol_energy of monotone
    assert np.all(_col(st, "energy_max_increase") <= 1e-6 * (_col(st, "energy_initial") + 1e-12))
    assert np.all(_col(st, "energy_final") <= _col(st, "energy_initial"))


# -- 2: circle of minima -----------------------------------------------------------------------
def _angles(xs):
    return np.arctan2(xs[..., 1], xs[..., 0]).ravel()


def test_circle_endpoints_on_the_circle_and_spread_law():
    m = ring()
    k0, gamma = 0.05, 1.0
    xs, st = _chains(m, [1.0, 0.0], 2000, 1, kinetic_energy=k0, friction=gamma)
    assert not np.any(_col(st, "hit_T_max"))
    r = np.linalg.norm(xs, axis=-1)
    assert np.max(np.abs(r - 1.0)) < 1e-5
    assert np.max(_col(st, "loss")) < 1e-10
    # isotropic kicks from a minimizer: angular displacement (sqrt(2 K0)/gamma) cos(phi),
    # std sqrt(K0)/gamma (spec 3.10.6-7); tolerance = 1.5 % modelling bias (curvature of the
    # valley, measured ~1 %) + 4 Monte Carlo standard errors of a standard deviation
    a = _angles(xs)
    n = a.size
    sd = a.std()
    kurt = np.mean((a - a.mean()) ** 4) / sd**4
    se = sd * math.sqrt((kurt - 1) / (4 * n))
    pred = math.sqrt(k0) / gamma
    assert abs(sd - pred) < 0.015 * pred + 4 * se


def test_circle_spread_monotone_in_energy_and_friction():
    m = ring()
    spread_k = [
        _angles(_chains(m, [1.0, 0.0], 200, 1, kinetic_energy=k0, friction=1.0)[0]).std()
        for k0 in (0.01, 0.05, 0.2)
    ]
    spread_g = [
        _angles(_chains(m, [1.0, 0.0], 200, 1, kinetic_energy=0.05, friction=g)[0]).std()
        for g in (0.5, 1.0, 2.0)
    ]
    assert spread_k[0] < spread_k[1] < spread_k[2]
    assert spread_g[0] > spread_g[1] > spread_g[2]


# -- 3: hyperbola of minima --------------------------------------------------------------------
def test_hyperbola_level_set_sign_and_exploration():
    m = hyperbola()
    # spec 3.10.8: g = 1, gamma = 1, K0 = 0.5 < barrier 1, 16 chains x 50 kicks
    xs, st = _chains(m, [1.0, 1.0], 16, 50, seed=1, kinetic_energy=0.5, friction=1.0)
    assert not np.any(_col(st, "hit_T_max"))
    a, b = xs[..., 0], xs[..., 1]
    assert np.max(np.abs(a * b - 1.0)) < 1e-5
    assert np.all(a > 0)  # below the barrier energy the branch is kept
    assert np.any(np.any(np.abs(a) > 3, axis=1))  # some chain explores far out ...
    assert np.any(np.any(np.abs(a) < 1 / 3, axis=1))  # ... and some toward the other end


def test_hyperbola_branch_changes_above_the_barrier():
    m = hyperbola()
    xs, st = _chains(m, [1.0, 1.0], 4, 25, seed=2, kinetic_energy=10.0, friction=1.0)
    a, b = xs[..., 0], xs[..., 1]
    assert np.max(np.abs(a * b - 1.0)) < 1e-5
    assert np.any(a < 0) and np.any(a > 0)


# -- 5: flat valley ----------------------------------------------------------------------------
@pytest.mark.parametrize("integrator", [Integrator.VERLET, Integrator.DAMPED_DRIFT])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_flat_valley_travel_distance(integrator, gamma):
    m = flat_valley()
    s, k0 = 1.0, 0.5
    # gamma h = 0.15 (spec 3.10.9), the friction split's bound
    p = _params(m, [0.0, 0.0], kinetic_energy=k0, friction=gamma, integrator=integrator)
    x, st, _ = _integrate(m, [0.0, 0.0], [s, 0.0], p, 0)
    tol = 1e-3 + math.sqrt(p[K.P_TOL_KIN] / k0)
    assert abs(x[0] / (s / gamma) - 1.0) < tol
    assert abs(x[1]) < 1e-12
    if integrator == Integrator.DAMPED_DRIFT:  # exact along the floor
        assert abs(x[0] / (s / gamma) - 1.0) < 2 * math.sqrt(p[K.P_TOL_KIN] / k0)


def test_exploration_length_parametrization():
    m = flat_valley()
    ell, k0 = 0.7, 0.3
    method = DIMS(exploration_length=ell, kinetic_energy=k0)
    assert method.friction_value == pytest.approx(math.sqrt(2 * k0) / ell)
    xs, _ = _chains(m, [0.0, 0.0], 300, 1, exploration_length=ell, kinetic_energy=k0)
    travel = np.abs(xs[..., 0]).ravel()  # = ell |cos(phi)| for isotropic kicks
    assert travel.max() <= ell * (1 + 1e-3)
    assert travel.max() > 0.95 * ell


# -- 6: invariances ----------------------------------------------------------------------------
@njit
def _ring_shifted(theta, fdata, idata):
    lp, g = ring_lpg(theta, fdata, idata)
    return lp - 7.25, g


@njit
def _ring_scaled(theta, fdata, idata):
    lp, g = ring_lpg(theta, fdata, idata)
    return 3.0 * lp, 3.0 * g


def test_adding_a_constant_changes_nothing():
    base = ring()
    shifted = Model(_ring_shifted, {"theta": (2,)}, data=(base.fdata, base.idata))
    kw = dict(kinetic_energy=0.2, friction=0.7, step_size=0.05, max_time=200.0)
    x1, s1 = _chains(base, [1.0, 0.0], 3, 5, seed=3, **kw)
    x2, s2 = _chains(shifted, [1.0, 0.0], 3, 5, seed=3, **kw)
    np.testing.assert_allclose(x2, x1, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(_col(s2, "n_integration_steps"), _col(s1, "n_integration_steps"))


def test_scaling_the_loss_is_scaling_gravity_and_metric():
    c = 3.0
    base = ring()
    scaled = Model(_ring_scaled, {"theta": (2,)}, data=(base.fdata, base.idata))
    common = dict(kinetic_energy=0.2, friction=0.7, step_size=0.05, max_time=200.0)
    x1, _ = _chains(
        scaled, [1.0, 0.0], 3, 5, seed=4, gravity=1.0, metric_scale=0.5, tol_grad=3e-6, **common
    )
    x2, _ = _chains(
        base, [1.0, 0.0], 3, 5, seed=4, gravity=c, metric_scale=c * c * 0.5, tol_grad=1e-6, **common
    )
    np.testing.assert_allclose(x1, x2, rtol=0, atol=1e-8)


# -- 7: reductions -----------------------------------------------------------------------------
@njit
def _quad_lpg(theta, fdata, idata):
    g = np.empty(2)
    g[0] = -fdata[0] * theta[0]
    g[1] = -fdata[1] * theta[1]
    return -0.5 * (fdata[0] * theta[0] ** 2 + fdata[1] * theta[1] ** 2), g


def _quad():
    return Model(_quad_lpg, {"theta": (2,)}, data=(np.array([1.0, 4.0]), np.zeros(0, np.int64)))


def _geodesic_drift(exact, h):
    m = _quad()
    p = _params(m, [0.0, 0.0], kinetic_energy=1.0, friction=1.0, step_size=h)
    p[K.P_GRAVITY] = 0.0
    p[K.P_FRICTION] = 0.0
    p[K.P_ADAPTIVE] = 0.0
    p[K.P_TMAX] = 2.0
    p[K.P_EXACT_CURV] = 1.0 if exact else 0.0
    _, st, rec = _integrate(m, [1.0, 0.5], [0.4, -0.7], p, 20_000)
    assert st[K.S_HIT] == 1  # without friction it never stops: flagged, not kept silently
    xs, vs = rec[:, 3:5], rec[:, 5:7]
    gl = xs * np.array([1.0, 4.0])
    kin = 0.5 * (np.sum(vs**2, 1) + np.sum(gl * vs, 1) ** 2)
    # the motion is genuinely curved (the metric term acts): not a straight line
    turn = vs[-1] / np.linalg.norm(vs[-1]) - vs[0] / np.linalg.norm(vs[0])
    assert np.linalg.norm(turn) > 0.1
    return np.max(np.abs(kin / kin[0] - 1))


@pytest.mark.parametrize("exact", [True, False])
def test_geodesic_reduction_conserves_kinetic_energy(exact):
    """g = gamma = 0: v^T G v is conserved; drift < 1e-6 and second order in h (spec 3.10.10)."""
    h = 5e-4 if exact else 2.5e-4
    d1 = _geodesic_drift(exact, h)
    d2 = _geodesic_drift(exact, h / 2)
    assert d1 < 1e-6
    assert 3.5 < d1 / d2 < 4.5


def test_heavy_ball_reduction_matches_the_exact_solution():
    """lambda = 0: theta'' = -g a theta - gamma theta' on a quadratic, solved exactly."""
    m = _quad()
    g, gamma = 1.3, 0.6
    p = _params(
        m,
        [0.0, 0.0],
        gravity=g,
        kinetic_energy=1.0,
        friction=gamma,
        geometry=Geometry.EUCLIDEAN,
        step_size=1e-3,
        adaptive=False,
        max_time=3.0,
    )
    x0, v0 = np.array([1.0, -0.5]), np.array([0.2, 0.9])
    _, _, rec = _integrate(m, x0, v0, p, 4000)
    t = rec[:, 0]
    for i, a in enumerate((1.0, 4.0)):
        w2 = g * a - gamma**2 / 4
        wd = math.sqrt(w2)
        c1 = x0[i]
        c2 = (v0[i] + gamma / 2 * x0[i]) / wd
        exact = np.exp(-gamma * t / 2) * (c1 * np.cos(wd * t) + c2 * np.sin(wd * t))
        assert np.max(np.abs(rec[:, 3 + i] - exact)) < 1e-5


# -- 8: the network ----------------------------------------------------------------------------
def _tiny_net():
    x = np.array([-1.0, -0.5, 0.0, 0.4, 1.0])
    return mlp_regression(x, np.sin(2.5 * x), hidden=(6,))


def test_mlp_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 2))
    y = rng.normal(size=(7, 2))
    m = mlp_regression(x, y, hidden=(4, 3), noise_std=0.7, prior_precision=0.3)
    th = rng.normal(size=m.dim)
    loss, g = m.loss_and_grad(th)
    eps = 1e-6
    fd = np.array(
        [
            (m.loss_and_grad(th + eps * e)[0] - m.loss_and_grad(th - eps * e)[0]) / (2 * eps)
            for e in np.eye(m.dim)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(1.0, abs(loss)))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_mlp_cross_entropy_value_and_gradient(n_classes):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 2))
    labels = np.arange(9) % n_classes
    m = mlp_classification(x, labels, hidden=(4, 3), prior_precision=0.3)
    th = 2.0 * rng.normal(size=m.dim)  # large logits: exercises the stable branches
    loss, g = m.loss_and_grad(th)
    # the value against numpy: -sum log p(label) + prior
    p = m.predict_proba(th, x)[0]
    expected = -np.sum(np.log(p[np.arange(9), labels])) + 0.15 * th @ th
    np.testing.assert_allclose(loss, expected, rtol=1e-10)
    eps = 1e-6
    fd = np.array(
        [
            (m.loss_and_grad(th + eps * e)[0] - m.loss_and_grad(th - eps * e)[0]) / (2 * eps)
            for e in np.eye(m.dim)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(1.0, abs(loss)))


def test_mlp_classification_rejects_bad_labels():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="labels must be >= 0"):
        mlp_classification(x, [0, -1, 1])
    with pytest.raises(ValueError, match="n_classes"):
        mlp_classification(x, [0, 1, 2], n_classes=2)
    with pytest.raises(TypeError, match="labels"):
        mlp_classification(x, [0.5, 1.0, 0.0])


@pytest.mark.parametrize("name", ["ring", "hyperbola", "flat_valley"])
def test_loss_surface_gradients(name):
    m = {"ring": ring(dim=3), "hyperbola": hyperbola(), "flat_valley": flat_valley(dim=3)}[name]
    th = np.random.default_rng(1).normal(size=m.dim)
    _, g = m.loss_and_grad(th)
    eps = 1e-6
    fd = [
        (m.loss_and_grad(th + eps * e)[0] - m.loss_and_grad(th - eps * e)[0]) / (2 * eps)
        for e in np.eye(m.dim)
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_network_predictions_fixed_on_data_and_spread_away_from_it():
    m = _tiny_net()
    method = DIMS(friction=0.3, kinetic_energy=0.05, max_time=3000.0)
    trace = geobayes.sample(m, method=method, draws=4, chains=3, seed=0, progress=False)
    assert converged(trace).all()
    pp = trace["posterior_predictive"]["y"].values  # (chain, draw, n, 1)
    assert np.max(np.abs(pp - m.y_train)) < 1e-4
    lo, hi = geobayes.predictive_interval(trace, m, np.array([-3.0, 2.5]), prob=0.9)
    assert np.all(hi - lo > 1e-2)
    mean = geobayes.predictive_mean(trace, m, m.x_train)
    np.testing.assert_allclose(mean, m.y_train, atol=1e-4)
    pred = geobayes.predict(trace, m, np.array([0.0, 3.0]))
    assert pred["predictions"]["y"].shape == (3, 4, 2, 1)


# -- driver, trace, validation -----------------------------------------------------------------
def test_same_seed_same_trace_whatever_the_thread_count():
    kw = dict(method="dims", draws=6, chains=3, seed=11, progress=False, kinetic_energy=0.1)
    t1 = geobayes.sample("hyperbola", cores=1, **kw)
    t2 = geobayes.sample("hyperbola", cores=3, **kw)
    for v in ("a", "b"):
        np.testing.assert_array_equal(t1.posterior[v].values, t2.posterior[v].values)
    np.testing.assert_array_equal(
        t1.sample_stats["stop_time"].values, t2.sample_stats["stop_time"].values
    )


def test_trace_statistics_and_flagging():
    trace = geobayes.sample("ring", method="dims", draws=5, chains=2, seed=0, progress=False)
    st = trace.sample_stats
    for name in (
        "loss",
        "grad_norm",
        "stop_time",
        "n_integration_steps",
        "energy_initial",
        "energy_final",
        "hit_T_max",
        "n_steps",
        "diverging",
    ):
        assert name in st
    assert st["hit_T_max"].dtype == bool
    assert float(st["grad_norm"].max()) < 1e-6
    # a too-short max_time: every draw flagged and a warning names them
    with pytest.warns(UserWarning, match="hit_T_max"):
        t = geobayes.sample(
            "ring", method="dims", draws=3, chains=1, seed=0, progress=False, max_time=0.5
        )
    assert bool(t.sample_stats["hit_T_max"].all()) and not converged(t).any()
    with pytest.raises(TypeError, match="no predict"):
        geobayes.predictive_mean(t, ring(), np.zeros((1, 2)))


def test_flagged_draws_are_left_out_of_predictions():
    m = _tiny_net()
    with pytest.warns(UserWarning, match="hit_T_max"):
        t = geobayes.sample(
            m,
            method="dims",
            draws=2,
            chains=1,
            seed=0,
            progress=False,
            friction=0.3,
            kinetic_energy=0.05,
            max_time=1.0,
        )
    with pytest.raises(ValueError, match="no converged draws"):
        geobayes.predictive_mean(t, m, np.zeros(2))
    assert np.isnan(
        geobayes.predict(t, m, np.zeros(2), only_converged=True)["predictions"]["y"].values
    ).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(friction=-1.0), "friction must be > 0"),
        (dict(gravity=0.0, kinetic_energy=1.0), "gravity must be > 0"),
        (dict(gravity=-1.0), "gravity must be >= 0"),
        (dict(friction=1.0, exploration_length=2.0), "either friction or exploration_length"),
        (dict(kinetic_energy=1.0, escape_height=2.0), "either kinetic_energy or escape_height"),
        (dict(kinetic_energy=0.0), "kinetic_energy must be > 0"),
        (dict(metric_scale=-1.0), "metric_scale must be >= 0"),
        (dict(geometry="spherical"), "geometry must be one of"),
        (dict(tol_grad=0.0), "tol_grad must be > 0"),
        (dict(max_steps=0), "max_steps must be an integer"),
        (dict(adapt_step_size=True), "adapts its integration step itself"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DIMS(**kwargs)


def test_cli_sample_ring_with_dims(tmp_path, capsys):
    from geobayes.cli.main import main

    out = tmp_path / "ring.nc"
    code = main(
        ["sample", "ring", "--method", "dims", "--draws", "200", "--no-progress", "--out", str(out)]
    )
    assert code == 0
    assert out.exists()
    assert (
        main(["sample", "ring", "--method", "dims", "--param", "friction=-1", "--no-progress"]) == 2
    )
    assert "friction must be > 0" in capsys.readouterr().err
