"""posteriordb models: gradients against finite differences, log densities and pointwise
log-likelihoods against independent SciPy twins of the Stan programs, transforms, data
checks, and the reference-posterior API (register, load, compare)."""

import numpy as np
import pytest
import xarray as xr
from _stats import POSTERIORDB, skip_without_posteriordb
from reference import posteriordb_ref as ref
from scipy import special

import geobayes.models as gm
from geobayes.models.posteriordb import POSTERIORDB_MODELS, posteriordb_data

NAMES = list(POSTERIORDB_MODELS)


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _typical_point(name, rng):
    """An unconstrained point near the posterior (from posteriordb's reference means)."""
    if name == "arK-arK":
        u = [0.0, 0.69, 0.44, 0.11, -0.035, -0.30, np.log(0.15)]
    elif name == "garch-garch11":
        u = [5.05, np.log(1.47), _logit(0.567), _logit(0.293 / (1 - 0.567))]
    elif name == "gp_pois_regr-gp_pois_regr":
        u = [np.log(5.67), np.log(2.92), *rng.normal(size=11)]
    elif name == "kidiq-kidscore_interaction":
        u = [-11.4, 51.0, 0.97, -0.48, np.log(18.0)]
    elif name == "kilpisjarvi_mod-kilpisjarvi":
        u = [-60.7, 0.0176, np.log(1.13)]
    elif name == "low_dim_gauss_mix-low_dim_gauss_mix":
        u = [-2.73, np.log(2.87 + 2.73), np.log(1.03), np.log(1.02), _logit(0.62)]
    else:  # sblrc-blr
        u = [1.0] * 5 + [np.log(1.04)]
    u = np.asarray(u, dtype=float)
    return u + 0.02 * np.abs(u).clip(0.05) * rng.standard_normal(u.size)


def _points(name, dim, n_random=3, n_typical=2, seed=0):
    rng = np.random.default_rng(seed)
    pts = [rng.uniform(-2.0, 2.0, dim) for _ in range(n_random)]  # Stan's initial region
    pts += [_typical_point(name, rng) for _ in range(n_typical)]
    return pts


def fd5_grad(f, x, h=1e-4):
    """Five-point central differences (error O(h^4)), step ``h * max(1, |x_i|)``."""
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (-f(x + 2 * e) + 8 * f(x + e) - 8 * f(x - e) + f(x - 2 * e)) / (12 * e[i])
    return g


def fd_error(model, theta):
    """max_i |grad_i - fd_i| / (|fd_i| + 1e-3 max(1, max |fd|)): a relative error per component."""
    _, g = model.logdensity_and_grad(theta)
    fd = fd5_grad(model.logdensity, theta)
    return float(np.max(np.abs(g - fd) / (np.abs(fd) + 1e-3 * max(1.0, np.max(np.abs(fd))))))


# Measured maxima over these points: 1e-10 .. 1.4e-8, and 9e-6 for the GP.  The GP's log
# density is itself noisy (~1e-6) where K = alpha^2 exp(..) + 1e-10 I is ill-conditioned
# (rho large against the spacing of x): there the finite differences, not the gradient, are
# off -- checked against 60-digit (mpmath) differences of the same program during
# development, which agree with the analytic gradient to 1e-8.
FD_TOL = {"gp_pois_regr-gp_pois_regr": 5e-5}


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences(name):
    model = gm.get(name)
    errors = [fd_error(model, theta) for theta in _points(name, model.dim)]
    assert max(errors) < FD_TOL.get(name, 1e-6), errors


@pytest.mark.parametrize("name", NAMES)
def test_logdensity_and_loglik_match_scipy_twin(name):
    """Equal to the Stan program (SciPy twin) up to one constant; pointwise terms exactly."""
    model = gm.get(name)
    data = posteriordb_data(name)
    twin = ref.TWINS[name]
    diffs, scale = [], 1.0
    for theta in _points(name, model.dim, seed=1):
        prior, loglik = twin(theta, data)
        lp = model.logdensity(theta)
        diffs.append(lp - (prior + loglik.sum()))
        scale = max(scale, abs(lp))
        np.testing.assert_allclose(model.loglik(theta[None])[0], loglik, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-12 * scale + 1e-9)
    # Stan's `~` drops constants; ours keep scipy's, except half-Cauchy vs Cauchy (log 2)
    assert abs(diffs[0]) < 1.0


def test_garch_parameter_dependent_bound_and_jacobian():
    m = gm.get("garch11")
    rng = np.random.default_rng(4)
    u = rng.normal(scale=3.0, size=(200, 4))
    d = m.constrain(u)
    a1, b1 = d["alpha1"], d["beta1"]
    assert np.all((a1 > 0) & (a1 < 1) & (b1 > 0) & (b1 < 1 - a1))
    np.testing.assert_allclose(b1, (1 - a1) * special.expit(u[:, 3]), rtol=1e-12)
    # the log(1 - alpha1) Jacobian term is there: dropping it changes the density by
    # exactly log(1 - alpha1), which varies with alpha1
    data = posteriordb_data("garch-garch11")
    diffs = []
    for p in u[:3]:
        prior, ll = ref.garch11(p, data)
        diffs.append(m.logdensity(p) - prior - ll.sum())
    np.testing.assert_allclose(diffs, 0.0, atol=1e-8)


def test_ordered_means_and_gp_transformed_parameter():
    m = gm.get("low_dim_gauss_mix")
    u = np.random.default_rng(5).normal(scale=3.0, size=(100, 5))
    mu = m.constrain(u)["mu"]
    assert mu.shape == (100, 2) and np.all(mu[:, 1] > mu[:, 0])
    gp = gm.get("gp_pois_regr")
    u = np.random.default_rng(6).normal(size=(3, 13))
    out = gp.constrain(u)
    data = posteriordb_data("gp_pois_regr-gp_pois_regr")
    for i in range(3):
        f = ref.gp_f(data["x"], np.exp(u[i, 0]), np.exp(u[i, 1]), u[i, 2:])
        np.testing.assert_allclose(out["f"][i], f, rtol=1e-10, atol=1e-12)
    # a covariance that is not numerically positive definite is rejected, as Stan does
    bad = np.zeros(13)
    bad[0] = 3.0  # rho = e^3 = 20 (range of x: 20), alpha = e^10: the 1e-10 jitter is below
    bad[1] = 10.0  # round-off of alpha^2 = 5e8, the factorization meets a pivot <= 0
    lp, g = gp.logdensity_and_grad(bad)
    assert lp == -np.inf and np.all(g == 0)


def test_extreme_points_are_rejected_not_raised():
    """Underflowing scales give -inf (a rejected proposal), never ZeroDivisionError or NaN."""
    for name in NAMES:
        m = gm.get(name)
        for value in (-800.0, 800.0):
            lp, g = m.logdensity_and_grad(np.full(m.dim, value))
            assert lp == -np.inf or (np.isfinite(lp) and np.all(np.isfinite(g))), name


@skip_without_posteriordb("garch-garch11")
@pytest.mark.parametrize("name", [*NAMES, "eight_schools-eight_schools_noncentered"])
def test_names_shapes_and_packaged_data_match_posteriordb(name):
    import json

    folder = POSTERIORDB / name
    with open(folder / "info.json") as f:
        info = json.load(f)
    post = gm.get_posterior(name)
    model = post.model()
    assert model.dim == info["unconstrained_dimension"]
    for p in info["parameters"]:
        assert tuple(p["shape"]) == model.params[p["name"]]
    if name != "eight_schools-eight_schools_noncentered":
        with open(folder / "data.json") as f:
            assert json.load(f) == posteriordb_data(name)
    # every reference column is found in a trace of the model
    n = 3
    theta = np.random.default_rng(0).normal(size=(n, model.dim))
    post_vars = {
        k: (("chain", "draw", *[f"{k}_d{i}" for i in range(np.ndim(v) - 1)]), v[None])
        for k, v in model.constrain(theta).items()
    }
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset(post_vars)})
    cols = gm.trace_columns(tree, info["columns"])
    assert cols.shape == (1, n, len(info["columns"]))


def test_registry_lists_posteriors_and_aliases():
    names = gm.available()
    for name, (_, alias) in POSTERIORDB_MODELS.items():
        assert name in names and alias in names
        assert gm.get(alias).name == name
        assert gm.get_posterior(alias) is gm.get_posterior(name)
    assert set(gm.posteriors()) == {*NAMES, "eight_schools-eight_schools_noncentered"}


def test_user_data_and_bad_data():
    y = np.random.default_rng(0).normal(size=50)
    m = gm.get("arK", data={"K": 2, "T": 50, "y": y})
    assert m.dim == 4 and m.fdata.shape == (50,)
    with pytest.raises(ValueError, match=r"data\['T'\] = 40 does not match"):
        gm.ark(data={"K": 2, "T": 40, "y": y})
    with pytest.raises(ValueError, match="lacks 'sigma1'"):
        gm.garch11(data={"T": 50, "y": y})
    with pytest.raises(ValueError, match="non-negative integer counts"):
        gm.gp_pois_regr(data={"N": 2, "x": [0.0, 1.0], "k": [1.5, 2]})
    with pytest.raises(ValueError, match=r"data\['y'\] must have shape \(3,\)"):
        gm.kilpisjarvi(
            data={
                "x": [1.0, 2.0, 3.0],
                "y": [1.0, 2.0],
                "pmualpha": 0,
                "psalpha": 1,
                "pmubeta": 0,
                "psbeta": 1,
            }
        )
    with pytest.raises(TypeError, match="data must be a mapping"):
        gm.blr(data=[1, 2])
    with pytest.raises(ValueError, match="must be finite"):
        gm.low_dim_gauss_mix(data={"y": [0.0, np.nan]})


# -- reference API ------------------------------------------------------------------------
def _fake_trace(x):
    return xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"x": (("chain", "draw", "x_dim_0"), x)})}
    )


def test_register_posterior_npz_and_compare(tmp_path):
    rng = np.random.default_rng(1)
    ref_draws = rng.normal(size=(4, 2000, 2))
    path = tmp_path / "two.npz"
    np.savez(path, draws=ref_draws, param_names=np.array(["x[1]", "x[2]"]))
    post = gm.register_posterior(
        "test-two", lambda: gm.gaussian(dim=2), reference=path, aliases=("two_alias",)
    )
    try:
        assert gm.get("two_alias").dim == 2
        r = gm.load_reference("test-two")
        assert r.names == ("x[1]", "x[2]") and r.draws.shape == (4, 2000, 2)
        np.testing.assert_allclose(r.mean, ref_draws.reshape(-1, 2).mean(0))
        assert np.all(r.mcse_mean > 0) and np.all(r.mcse_sd > 0)
        # a matching trace: small z; a shifted one: large z
        same = r.compare(_fake_trace(rng.normal(size=(4, 2000, 2))))
        assert np.all(np.abs(same["z_mean"]) < 4) and np.all(np.abs(same["sd_ratio"] - 1) < 0.1)
        off = r.compare(_fake_trace(rng.normal(0.2, 1.3, size=(4, 2000, 2))))
        assert np.all(np.abs(off["z_mean"]) > 4) and np.all(off["sd_ratio"] > 1.2)
        with pytest.raises(ValueError, match="already a registered"):
            gm.register_posterior("test-two", post.model_factory, reference=path)
    finally:
        gm.unregister_posterior("test-two")
    assert "two_alias" not in gm.available() and "test-two" not in gm.posteriors()


def test_reference_errors(tmp_path):
    with pytest.raises(ValueError, match="reference draws not found"):
        gm.register_posterior("test-x", lambda: gm.gaussian(dim=2), reference=tmp_path / "no.npz")
    with pytest.raises(TypeError, match="model_factory must be callable"):
        gm.register_posterior("test-x", 3)
    with pytest.raises(ValueError, match="unknown reference posterior 'nope'"):
        gm.load_reference("nope")
    with pytest.raises(ValueError, match="unknown posterior 'nope'"):
        gm.get_posterior("nope")
    bad = tmp_path / "bad.npz"
    noise = np.random.default_rng(2).normal(size=(2, 10, 2))
    np.savez(bad, draws=noise)
    with pytest.raises(ValueError, match="must hold arrays 'draws'"):
        gm.load_reference(bad)
    np.savez(bad, draws=noise, param_names=np.array(["a", "b[0]"]))
    with pytest.raises(ValueError, match="Stan indices start at 1"):
        gm.load_reference(bad)
    np.savez(bad, draws=noise[..., :1], param_names=np.array(["y[1]"]))
    with pytest.raises(ValueError, match="has no posterior variable 'y'"):
        gm.load_reference(bad).compare(_fake_trace(np.zeros((2, 10, 1))))
    np.savez(bad, draws=noise[..., :1], param_names=np.array(["x[3]"]))
    with pytest.raises(ValueError, match="does not index variable 'x'"):
        gm.load_reference(bad).compare(_fake_trace(np.zeros((2, 10, 1))))


def test_missing_default_root_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOBAYES_POSTERIORDB", str(tmp_path))
    post = gm.get_posterior("garch11")
    assert not post.has_reference()
    with pytest.raises(FileNotFoundError, match="GEOBAYES_POSTERIORDB"):
        post.load_reference()


@skip_without_posteriordb("garch-garch11")
def test_load_posteriordb_folder():
    r = gm.load_reference("garch-garch11")
    assert r.names == ("mu", "alpha0", "alpha1", "beta1") and r.draws.shape == (10, 1000, 4)
    assert r.mean[0] == pytest.approx(5.05, abs=0.01)
    # thinned reference (gp): summary statistics are posteriordb's, over the unthinned draws
    g = gm.load_reference(POSTERIORDB / "gp_pois_regr-gp_pois_regr")
    assert g.draws.shape == (10, 500, 13) and g.mcse_mean[0] > 0


def test_cli_reference_flag(capsys):
    from geobayes.cli.main import main

    assert main(["sample", "gaussian", "--reference", "--no-progress"]) == 2
    assert "has no reference draws" in capsys.readouterr().err
    if not gm.get_posterior("eight_schools").has_reference():
        pytest.skip("reference draws not found under ../shared/reference/posteriordb")
    args = ["sample", "eight_schools", "--reference", "--no-progress", "--seed", "3"]
    assert main([*args, "--draws", "300", "--warmup", "300", "--method", "hmc"]) == 0
    out = capsys.readouterr().out
    assert "theta[8]" in out and "combined MCSEs" in out
