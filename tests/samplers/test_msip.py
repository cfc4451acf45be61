"""MSIP: the checkable properties of spec §1.8 as corrected by §1.12.

Known answers: closed-form Gaussian embeddings (§1.8.1), exact MMD, i.i.d. exact draws of
the same size (moment test), the mixture's component weights (mode test).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from _stats import skip_without_posteriordb
from scipy.special import gammaln

import geobayes
from geobayes.math.mmd import embedding, mixture_c, mmd2_to_mixture, pack_mixture, prepare
from geobayes.math.quadrature import axes_rule, mc_rule, radial_rule, spherical_rule
from geobayes.models.base import Model
from geobayes.models.gaussian import gaussian_from_moments
from geobayes.models.mixture import gaussian_mixture
from geobayes.samplers.msip import (
    MSIP,
    STATUS_SINGULAR,
    _weigh,
    embeddings,
)

MU = np.array([1.0, -2.0])
S = np.array([[2.0, 0.8], [0.8, 1.0]])


def _run(model, n, n_steps, *, seed=0, init=None, chains=1, **kw):
    return geobayes.sample(
        model,
        method="msip",
        n_particles=n,
        n_steps=n_steps,
        chains=chains,
        seed=seed,
        progress=False,
        initial_points=init,
        **kw,
    )


def _final(trace, c=0):
    return trace.posterior["x"].values[c], trace.sample_stats["weight"].values[c]


# --- closed forms (§1.8.1) -----------------------------------------------------------


def _exact_gauss(y, sigma):
    d = y.size
    a = S + sigma**2 * np.eye(d)
    r = y - MU
    log_v0 = -0.5 * np.linalg.slogdet(np.eye(d) + S / sigma**2)[1] - 0.5 * r @ np.linalg.solve(a, r)
    shift = MU + S @ np.linalg.solve(a, r) - y
    return log_v0, shift


def test_mixture_embedding_matches_gaussian_closed_form():
    sigma = 0.7
    mix = pack_mixture([1.0], [MU], [S])
    prep = prepare(mix, sigma)
    m = np.empty(2)
    for y in ([0.0, 0.0], [3.0, -1.0], [-2.0, 4.0]):
        y = np.array(y)
        lv = embedding(prep, y, m, np.empty(1))
        ref_lv, ref_m = _exact_gauss(y, sigma)
        assert lv == pytest.approx(ref_lv, rel=1e-12)
        np.testing.assert_allclose(m, ref_m, rtol=1e-12, atol=1e-13)
    c = mixture_c(mix, sigma)
    assert c == pytest.approx(np.linalg.det(np.eye(2) + 2 * S / sigma**2) ** -0.5, rel=1e-12)


def test_exact_mmd_against_a_large_iid_sample():
    # MMD^2 of a weighted rule to N(MU, S): the closed form against the V-statistic with
    # 3000 exact draws (the difference is the O(1/n) bias plus O(1/sqrt(n)) noise of c)
    rng = np.random.default_rng(3)
    sigma = 0.8
    mix = pack_mixture([1.0], [MU], [S])
    y = rng.normal(size=(5, 2)) + MU
    w = np.array([0.3, 0.2, 0.25, 0.15, 0.1])
    exact = mmd2_to_mixture(y, w, mix, sigma)
    x = rng.multivariate_normal(MU, S, size=3000)
    from geobayes.math.kernels import mmd2

    mc = mmd2(np.ascontiguousarray(y), w, x, np.full(3000, 1 / 3000), sigma)
    assert exact == pytest.approx(mc, abs=0.01)


@pytest.mark.parametrize("estimator", ["gradient_free", "gradient_informed"])
def test_quadrature_estimators_converge_to_closed_forms(estimator):
    model = gaussian_from_moments(MU, S)
    sigma = 0.6
    meth = MSIP(estimator=estimator, quadrature="mc_antithetic", n_nodes=40000)
    params = meth.params_array(model, np.random.default_rng(1))
    ys = np.ascontiguousarray([[0.0, 0.0], [2.5, -1.0], [1.0, -3.5]])
    lv0 = np.empty(3)
    mm = np.empty((3, 2))
    embeddings(ys, sigma, model.lpg, model.fdata, model.idata, params, lv0, mm)
    # the estimators target log( Z (2 pi sigma^2)^(-d/2) v0(y) ) with Z of the unnormalized lpg
    log_const = 0.5 * np.linalg.slogdet(2 * np.pi * S)[1] - math.log(2 * np.pi * sigma**2)
    for i, y in enumerate(ys):
        ref_lv, ref_m = _exact_gauss(y, sigma)
        # MC standard error of the self-normalized estimates from the same nodes
        z = params[12 : 12 + 2 * 40000].reshape(-1, 2)
        x = y + sigma * z
        f = np.exp(-0.5 * np.einsum("qi,ij,qj->q", x - MU, np.linalg.inv(S), x - MU))
        se_lv = f.std() / f.mean() / math.sqrt(f.size)
        assert abs(lv0[i] - (ref_lv + log_const)) < 4 * se_lv + 1e-12
        g = -(x - MU) @ np.linalg.inv(S)
        a = sigma**2 * g if estimator == "gradient_informed" else sigma * z
        se_m = np.sqrt(np.sum((f[:, None] * (a - mm[i])) ** 2, axis=0)) / f.sum()
        assert np.all(np.abs(mm[i] - ref_m) < 4 * se_m + 1e-12), (mm[i], ref_m, se_m)


def test_point_estimator_is_order_sigma_squared():
    model = gaussian_from_moments(MU, S)
    for sigma in (0.2, 0.1):
        meth = MSIP(estimator="point")
        params = meth.params_array(model, np.random.default_rng(0))
        y = np.ascontiguousarray([[2.0, -1.0]])
        lv0, mm = np.empty(1), np.empty((1, 2))
        embeddings(y, sigma, model.lpg, model.fdata, model.idata, params, lv0, mm)
        _, ref = _exact_gauss(y[0], sigma)
        # point: -sigma^2 S^-1 r; exact: -sigma^2 (S + sigma^2 I)^-1 r -> difference O(sigma^4)
        assert np.linalg.norm(mm[0] - ref) < 2 * sigma**4 * np.linalg.norm(
            np.linalg.inv(S) @ np.linalg.inv(S) @ (y[0] - MU)
        )


# --- inner rules (§1.8.8) -----------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_spherical_radial_rule_integrates_radial_polynomials(d):
    z, w = spherical_rule(d, 7, 3, np.random.default_rng(d))
    r2 = (z**2).sum(axis=1)
    for m in range(5):  # |z|^(2m), m <= 2 n_radial - 1 = 5
        exact = math.exp(m * math.log(2) + gammaln(d / 2 + m) - gammaln(d / 2))
        assert w @ r2**m == pytest.approx(exact, rel=1e-11)
    rad, lam = radial_rule(d, 3)
    assert lam.sum() == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("d", [1, 3, 6])
def test_axes_rule_is_exact_to_degree_three(d):
    z, w = axes_rule(d, 3)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(w @ z, 0.0, atol=1e-14)
    np.testing.assert_allclose((z * w[:, None]).T @ z, np.eye(d), atol=1e-13)
    third = np.einsum("q,qi,qj,qk->ijk", w, z, z, z)
    np.testing.assert_allclose(third, 0.0, atol=1e-13)
    zm, wm = mc_rule(d, 10, np.random.default_rng(0), antithetic=True)
    np.testing.assert_allclose(wm @ zm, 0.0, atol=1e-14)


# --- dynamics ---------------------------------------------------------------------------


def test_monotone_mmd_with_exact_embeddings():
    # §1.12 item 2: exact v0, tau = 1e-3, eta = 0.1, start from target draws: log G (so the
    # regularized MMD) never decreases; then backtracking with eta = 0.5 and the GI rule
    model = gaussian_from_moments(MU, S)
    rng = np.random.default_rng(5)
    for seed in range(3):
        init = rng.multivariate_normal(MU, S, size=20)
        t = _run(
            model, 20, 60, seed=seed, init=init, estimator="exact", relaxation=0.1, bandwidth=0.6
        )
        lg = t.sample_stats["log_g"].values[0]
        assert np.all(np.diff(lg) >= -1e-12 * np.abs(lg[1:])), np.diff(lg).min()
        mmd = t.sample_stats["mmd"].values[0]
        assert mmd[-1] < mmd[0]
    t = _run(model, 20, 60, init=init, backtrack=True, bandwidth=0.6)
    lg = t.sample_stats["log_g"].values[0]
    assert np.all(np.diff(lg) >= -1e-12 * np.abs(lg[1:]))
    assert t.sample_stats["n_backtracks"].values.max() <= 20


@numba.njit(cache=True)
def _shifted_gauss(theta, fdata, idata):
    r = theta - fdata[:2]
    prec = fdata[2:6].reshape((2, 2))
    g = -(prec @ r)
    return 0.5 * (r @ g) + fdata[6], g


def _shifted_model(c):
    fdata = np.concatenate([MU, np.linalg.inv(S).ravel(), [c]])
    return Model(_shifted_gauss, {"x": (2,)}, data=(fdata, np.zeros(0, np.int64)))


@pytest.mark.parametrize("estimator", ["gradient_informed", "gradient_free", "point"])
def test_normalizing_constant_invariance(estimator):
    # exact in exact arithmetic; in floating point log pi~ + c rounds differently for each
    # c (~1e-14), and the relaxed map amplifies rounding while weights are negative (a
    # transient), so the comparison is over the first 8 iterations (see the next test)
    init = np.random.default_rng(2).normal(size=(25, 2)) * 2
    out = []
    for c in (-50.0, 0.0, 50.0):
        t = _run(_shifted_model(c), 25, 8, init=init, estimator=estimator)
        out.append(_final(t))
    for x, w in out[1:]:
        np.testing.assert_allclose(x, out[0][0], rtol=0, atol=1e-8)
        np.testing.assert_allclose(w, out[0][1], rtol=0, atol=1e-8)


def test_long_runs_differ_in_z_only_as_much_as_under_rounding_noise():
    # after 60 iterations a shift of log pi~ by 50 moves the rule no more than perturbing the
    # initial particles by 1e-13 does: the divergence is sensitivity to rounding, not to Z
    init = np.random.default_rng(2).normal(size=(25, 2)) * 2
    base = _final(_run(_shifted_model(0.0), 25, 60, init=init))[0]
    shifted = _final(_run(_shifted_model(50.0), 25, 60, init=init))[0]
    jittered = _final(_run(_shifted_model(0.0), 25, 60, init=init + 1e-13))[0]
    d_z = np.abs(shifted - base).max()
    d_round = np.abs(jittered - base).max()
    assert d_z <= 100 * max(d_round, 1e-12), (d_z, d_round)


def test_weights_sum_to_one_and_are_positive_on_a_standard_gaussian():
    model = gaussian_from_moments(np.zeros(2), np.eye(2))
    init = np.random.default_rng(1).normal(size=(20, 2))
    for est in ("exact", "point", "gradient_informed"):
        t = _run(model, 20, 200, init=init, estimator=est, bandwidth=0.316)
        x, w = _final(t)
        assert w.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(w > 0), (est, w.min())


def test_one_particle_is_mean_shift():
    # 1-D N(1, 2^2): the single particle goes to the mean
    model = gaussian_from_moments([1.0], [[4.0]])
    for est in ("exact", "gradient_informed", "point"):
        t = _run(model, 1, 300, init=np.array([[-3.0]]), estimator=est, bandwidth=1.0)
        x, w = _final(t)
        assert x[0, 0] == pytest.approx(1.0, abs=1e-6) and w[0] == 1.0
    # mixture 0.6 N(-2, 0.5^2) + 0.4 N(2.5, 0.5^2): from 1.0 (basin of the right mode)
    mix = gaussian_mixture([0.6, 0.4], [[-2.0], [2.5]], [0.5, 0.5])
    sigma = 0.5
    grid = np.linspace(0.5, 4.0, 350001)
    smooth = 0.4 * np.exp(-0.5 * (grid - 2.5) ** 2 / (0.25 + sigma**2)) + 0.6 * np.exp(
        -0.5 * (grid + 2) ** 2 / (0.25 + sigma**2)
    )
    mode_smoothed = grid[np.argmax(smooth)]
    t = _run(mix, 1, 400, init=np.array([[1.0]]), estimator="exact", bandwidth=sigma)
    assert _final(t)[0][0, 0] == pytest.approx(mode_smoothed, abs=1e-4)
    t = _run(mix, 1, 400, init=np.array([[1.0]]), estimator="point", bandwidth=sigma)
    assert _final(t)[0][0, 0] == pytest.approx(2.5, abs=1e-3)  # a mode of pi itself


def _moment_errors(x, w):
    m = w @ x
    c = (x - m).T @ (w[:, None] * (x - m))
    return np.linalg.norm(m - MU), np.linalg.norm(c - S)


def test_moments_beat_iid_on_a_correlated_gaussian():
    # §1.12 item 6 / issue: N = 50, sigma = 0.6, GI with the shared axes rule, init N(0, I),
    # 500 iterations; weighted-moment errors <= 1/3 of those of 50 iid exact draws
    model = gaussian_from_moments(MU, S)
    rng = np.random.default_rng(11)
    iid = np.array(
        [
            _moment_errors(rng.multivariate_normal(MU, S, size=50), np.full(50, 1 / 50))
            for _ in range(4000)
        ]
    ).mean(axis=0)
    t = _run(model, 50, 500, chains=4, bandwidth=0.6, init=rng.normal(size=(4, 50, 2)))
    errs = np.array([_moment_errors(*_final(t, c)) for c in range(4)]).mean(axis=0)
    assert errs[0] <= iid[0] / 3, (errs, iid)
    assert errs[1] <= iid[1] / 3, (errs, iid)
    assert errs[0] < 0.03 and errs[1] < 0.15  # the spec's absolute bounds


def test_four_unequal_modes_from_an_overdispersed_start():
    a = np.array([0.1, 0.2, 0.3, 0.4])
    means = np.array([[-5.0, -5.0], [5.0, -5.0], [-5.0, 5.0], [5.0, 5.0]])
    model = gaussian_mixture(a, means, [0.6] * 4)
    t = _run(model, 50, 500, init_scale=10.0, bandwidth=0.5, seed=3)
    x, w = _final(t)
    label = np.argmin(((x[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    for k in range(4):
        assert np.sum(label == k) >= 1
        assert abs(w[label == k].sum() - a[k]) <= 0.05, (k, w[label == k].sum())


# --- driver, family and bad input ---------------------------------------------------------


def test_same_seed_same_rule_whatever_the_thread_count():
    t1 = _run("mixture_2d", 15, 30, chains=2, seed=4, cores=1)
    t2 = _run("mixture_2d", 15, 30, chains=2, seed=4, cores=2)
    np.testing.assert_array_equal(t1.posterior["x"].values, t2.posterior["x"].values)
    np.testing.assert_array_equal(
        t1.sample_stats["weight"].values, t2.sample_stats["weight"].values
    )
    assert t1.sample_stats["mmd"].dims == ("chain", "iteration")
    assert t1.attrs["weighted"] == 1


def test_particle_history_and_stats():
    t = _run("mixture_2d", 10, 12, particle_history=True, seed=1)
    ph = t["particle_history"]
    assert ph["theta"].shape == (1, 12, 10, 2)
    np.testing.assert_array_equal(ph["theta"].values[0, -1], t.posterior["x"].values[0])
    np.testing.assert_allclose(ph["weight"].values[0].sum(axis=1), 1.0, atol=1e-12)
    assert np.all(np.isfinite(t.sample_stats["mmd"].values))  # closed form on a mixture


def test_quantize_finds_cluster_centres():
    rng = np.random.default_rng(0)
    centres = np.array([[-4.0, 0.0], [4.0, 1.0], [0.0, 5.0]])
    data = np.concatenate(
        [c + 0.3 * rng.normal(size=(k, 2)) for c, k in zip(centres, (60, 30, 90), strict=True)]
    )
    from geobayes.samplers.msip import quantize

    # like Lloyd's algorithm it is local: start with one data point in each cluster
    init = data[[0, 60, 90]] + 0.2
    t = quantize(data, 3, bandwidth=0.3, n_steps=200, seed=1, progress=False, initial_points=init)
    x, w = _final(t)
    for c, share in zip(centres, (1 / 3, 1 / 6, 1 / 2), strict=True):
        k = np.argmin(((x - c) ** 2).sum(1))
        means = data[
            np.argmin(((data[:, None] - centres[None]) ** 2).sum(-1), axis=1)
            == np.argmin(((centres - c) ** 2).sum(1))
        ].mean(0)
        np.testing.assert_allclose(x[k], means, atol=0.1)  # sigma = cluster sd: approximate
        assert w[k] == pytest.approx(share, abs=0.02)
    mmd = t.sample_stats["mmd"].values[0]
    assert mmd[-1] <= mmd[0]


def test_bad_input():
    with pytest.raises(ValueError, match="n_particles must be >= 1"):
        geobayes.sample("gaussian", method="msip", n_particles=0)
    with pytest.raises(ValueError, match=r"needs about .* of memory"):
        geobayes.sample("gaussian", method="msip", n_particles=10**8, progress=False)
    with pytest.raises(TypeError, match="draws does not apply"):
        geobayes.sample("gaussian", method="msip", draws=10)
    with pytest.raises(ValueError, match="relaxation"):
        MSIP(relaxation=0.0)

    @numba.njit
    def nowhere(theta):
        return -np.inf, np.zeros_like(theta)

    model = Model(nowhere, {"x": (2,)}, name="nowhere")
    with pytest.raises(ValueError, match="not finite at any of the 5 initial particles"):
        geobayes.sample(model, method="msip", n_particles=5, progress=False)
    # singular kernel matrix after the nugget schedule (non-finite entries)
    x = np.zeros((3, 1))
    kmat = np.full((3, 3), np.nan)
    status = _weigh(x, np.zeros(3), np.zeros((3, 1)), kmat, 1e-3, np.empty((3, 1)), np.empty(3))[0]
    assert status == STATUS_SINGULAR
    msg = MSIP().error_message(STATUS_SINGULAR, model)
    assert "stayed singular" in msg and "nugget" in msg


def test_badly_scaled_gaussian_is_served_by_the_preconditioner():
    # issue 11: posteriors whose coordinates differ in scale by orders of magnitude (arK:
    # sds 0.008 to 0.09 against a start in (-2, 2)) defeat one isotropic bandwidth; before the
    # default preconditioning this target gave weighted-mean errors of 300+ sds.  Known
    # answer: the mean of N(mu, diag(sd^2)), sd = 1e-2 .. 1e2; tolerance: the Z = 4 error of
    # the mean of N i.i.d. draws, 4 / sqrt(N) sds, for every coordinate and seed.
    sds = 10.0 ** np.arange(-2, 3)
    mean = 0.5 * sds
    model = gaussian_from_moments(mean, sds**2, name="scaled")
    n = 50
    for seed in range(3):
        t = _run(model, n, 300, seed=seed)
        x, w = _final(t)
        err = np.abs(w @ x - mean) / sds
        assert np.all(err < 4 / math.sqrt(n)), (seed, err)
        assert np.all(np.isfinite(t.sample_stats["mmd"].values))  # closed form, scaled


@skip_without_posteriordb("gp_pois_regr-gp_pois_regr")
def test_starts_on_gp_pois_regr():
    # from the model's own initial points (uniform(-2, 2) in 13-D) the gradient-informed
    # estimator, at a bandwidth far wider than the posterior, sent the particles outwards
    # until no inner node had a finite log density: the run stopped within 15 iterations
    # ("the estimated log density is -inf or NaN at every particle").  With the
    # preconditioned kernel, the gradient-free fallback for unresolved nodes and the
    # bandwidth halving it runs to the end and gives a finite signed quadrature rule
    t = geobayes.sample("gp_pois_regr-gp_pois_regr", method="msip", n_particles=30,
                        n_steps=30, chains=1, seed=0, progress=False)  # fmt: skip
    w = t.sample_stats["weight"].values[0]
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and np.all(np.isfinite(w))
    for v in t.posterior.data_vars:
        assert np.all(np.isfinite(t.posterior[v].values)), v


def test_result_warning_names_wild_rules():
    """Unit check of the reliability rule: sum |w| > 5 or a weighted variance <= 0."""
    model = geobayes.models.get("mixture_2d")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((3, 20, 2))
    ws = np.full((3, 20), 1.0 / 20)
    assert MSIP().result_warning(xs, ws, model) is None
    ws[1, :10], ws[1, 10:] = 0.4, -0.3  # sum 1, sum |w| = 7
    ws[2] = 0.0
    ws[2, :2] = [1.2, -0.2]  # variance of the two-point signed rule: -0.24 d^2 < 0
    msg = MSIP().result_warning(xs, ws, model)
    assert msg is not None and "2 of 3 replicate(s)" in msg and "1 (7)" in msg
    assert np.all(ws[2] @ (xs[2] - ws[2] @ xs[2]) ** 2 < 0)


def test_unstable_rule_warns_and_stable_rule_does_not():
    """On the 10-D eight schools the default rule blows up (seed 0: sum |w| = 29.6 on one
    replicate, a negative variance on the other); on the 2-D mixture it stays near a
    positive rule (sum |w| <= 1.01)."""
    from geobayes.errors import UnstableQuadratureWarning

    with pytest.warns(UnstableQuadratureWarning, match="2 of 2 replicate"):
        tr = geobayes.sample(
            "eight_schools", method="msip", n_steps=200, chains=2, seed=0, progress=False
        )
    assert tr.sample_stats["weight"].shape == (2, 100)  # the trace is still returned
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnstableQuadratureWarning)
        geobayes.sample(
            "mixture_2d",
            method="msip",
            n_particles=30,
            n_steps=100,
            chains=2,
            seed=0,
            progress=False,
        )
