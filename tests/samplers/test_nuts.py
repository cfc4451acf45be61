"""NUTS: one transition against a recursive NumPy transcription of Stan's algorithm, accuracy
on Gaussians, the dense metric's payoff, and bad input."""

import json
from importlib.resources import files

import numba
import numpy as np
import pytest
from _stats import check_gaussian_trace
from reference import samplers_ref as ref

import geobayes
from geobayes.models import correlated_gaussian, get
from geobayes.samplers import NUTS
from geobayes.samplers._integrators import dense_metric
from geobayes.samplers.nuts import nuts_step


def _models():
    return {
        "correlated_gaussian_3d": correlated_gaussian(dim=3, condition_number=50.0, seed=2),
        "funnel": get("funnel"),
    }


@pytest.mark.parametrize("name", ["correlated_gaussian_3d", "funnel"])
def test_transition_matches_reference_implementation(name):
    """Same generator state in: identical trees (depth, leapfrog count, divergence, random
    numbers consumed), positions and statistics, for diagonal and dense metrics, with step
    sizes from small (deep trees) to large (divergences)."""
    model = _models()[name]
    f = lambda t: model.logdensity_and_grad(t)  # noqa: E731
    rng = np.random.default_rng(0)
    depths, n_div = [], 0
    for k in range(60):
        x = rng.normal(size=model.dim)
        lp, g = f(x)
        eps = np.exp(rng.uniform(np.log(0.01), np.log(4.0)))
        if k % 2:
            a = rng.standard_normal((model.dim, model.dim))
            inv_mass = a @ a.T / model.dim + 0.5 * np.eye(model.dim)
            metric = dense_metric(inv_mass)
        else:
            inv_mass = rng.uniform(0.5, 2.0, model.dim)
            metric = np.sqrt(inv_mass)
        stats = np.zeros(9)
        r1, r2 = np.random.default_rng(k), np.random.default_rng(k)
        x1, lp1, g1 = nuts_step(
            r1, x, lp, g, model.lpg, model.fdata, model.idata, eps, metric,
            np.array([5.0, 1000.0]), stats,
        )  # fmt: skip
        x2, lp2, g2, st = ref.nuts_step(x, lp, g, r2, f, eps, inv_mass, max_depth=5)
        assert r1.random() == r2.random()  # the same random numbers were consumed
        assert stats[6] == st["tree_depth"] and stats[3] == st["n_steps"]
        assert bool(stats[4]) == st["diverging"]
        assert bool(stats[7]) == st["reached_max_treedepth"]
        np.testing.assert_allclose(x1, x2, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-10)
        assert lp1 == pytest.approx(lp2, rel=1e-10, abs=1e-10)
        assert stats[2] == pytest.approx(st["acceptance_rate"], rel=1e-9, abs=1e-12)
        assert stats[5] == pytest.approx(st["energy"], rel=1e-9, abs=1e-9)
        depths.append(st["tree_depth"])
        n_div += st["diverging"]
    # the cases cover shallow and capped trees, and divergences
    assert min(depths) <= 1 and max(depths) == 5 and n_div > 0


def test_nuts_on_correlated_gaussian_is_exact():
    """Every mean and variance within 4 MCSE, R-hat < 1.01 (10-D, condition number 20)."""
    model = correlated_gaussian(dim=10, condition_number=20.0, seed=1)
    trace = geobayes.sample(
        model, method="nuts", draws=2000, warmup=1000, chains=4, seed=11, progress=False
    )
    check_gaussian_trace(trace, model)
    ss = trace.sample_stats
    assert set(ss.data_vars) == {
        "lp", "acceptance_rate", "step_size", "tree_depth", "n_steps", "diverging",
        "energy", "reached_max_treedepth",
    }  # fmt: skip
    assert ss["tree_depth"].dtype == np.int64 and ss["diverging"].dtype == bool
    assert np.all(ss["n_steps"].values <= 2 ** (ss["tree_depth"].values + 1) - 1)
    assert trace.attrs["n_gradient_evals"] > ss["n_steps"].values.sum()  # + warmup


def _min_ess_per_gradient(trace):
    import arviz as az

    ess = float(az.ess(trace.posterior, method="bulk")["x"].min())
    return ess / trace.sample_stats["n_steps"].values.sum()


def test_dense_metric_pays_off_on_an_ill_conditioned_gaussian():
    """Condition number 1e4, random rotation: the adapted dense metric whitens the target, so
    its bulk ESS per gradient is at least 5x the diagonal metric's (about 100x measured)."""
    kw = dict(draws=500, warmup=500, chains=4, seed=3, progress=False)
    dense = geobayes.sample("correlated_gaussian", method="nuts", metric="dense", **kw)
    diag = geobayes.sample("correlated_gaussian", method="nuts", metric="diag", **kw)
    check_gaussian_trace(dense, get("correlated_gaussian"))
    assert _min_ess_per_gradient(dense) >= 5 * _min_ess_per_gradient(diag)


def test_bad_input():
    with pytest.raises(ValueError, match="max_tree_depth"):
        NUTS(max_tree_depth=0)
    with pytest.raises(TypeError, match="max_tree_depth"):
        NUTS(max_tree_depth=2.5)
    with pytest.raises(ValueError, match="max_tree_depth"):
        geobayes.sample("gaussian", method="nuts", max_tree_depth=-1, progress=False)
    with pytest.raises(ValueError, match="positive definite"):
        NUTS(metric="dense", inv_mass=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        NUTS(metric="dense", inv_mass=np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="metric"):
        NUTS(metric="full")
    with pytest.raises(ValueError, match="inv_mass must have shape"):
        geobayes.sample("gaussian", method="nuts", metric="dense", inv_mass=np.eye(3))


def test_non_finite_gradient_mid_trajectory_is_a_counted_divergence():
    """A model whose gradient turns NaN beyond x0 = 1.5 (log density still finite): every
    trajectory that gets there is a divergence, counted; the chain never leaves the region
    where the gradient is finite and nothing raises."""

    @numba.njit
    def nan_wall(theta):
        g = -theta.copy()
        if theta[0] > 1.5:
            g[0] = np.nan
        return -0.5 * theta @ theta, g

    t = geobayes.sample(
        geobayes.Model(nan_wall, {"x": (2,)}),
        method="nuts",
        draws=300,
        warmup=200,
        chains=2,
        seed=0,
        progress=False,
    )
    x = t.posterior["x"].values
    assert np.all(np.isfinite(x)) and np.all(x[..., 0] <= 1.5)
    n_div = int(t.sample_stats["diverging"].values.sum())
    assert n_div > 0 and t.attrs["divergences"] == n_div


def test_max_tree_depth_caps_the_trajectory():
    t = geobayes.sample(
        "correlated_gaussian",
        method="nuts",
        max_tree_depth=2,
        draws=50,
        warmup=50,
        chains=1,
        seed=0,
        progress=False,
    )
    ss = t.sample_stats
    assert ss["tree_depth"].values.max() == 2 and ss["n_steps"].values.max() <= 3
    assert ss["reached_max_treedepth"].values.any()
    assert np.array_equal(ss["reached_max_treedepth"].values, ss["tree_depth"].values == 2)


@numba.njit
def _user_lpg(theta, fdata, idata):
    return -0.5 * np.sum(theta**2), -theta


def test_a_new_model_or_data_set_compiles_no_sampler_kernel():
    """The NUTS step and the runner have one eager signature taking the model as an ``LPG``
    value: once they ran (or were loaded from the disk cache), sampling another model, of
    another dimension, or the same model with another data set, compiles and loads nothing of
    the sampler (Numba's compile events and cache statistics are unchanged)."""
    from numba.core import event

    from geobayes.samplers._chunk import run_chunk
    from geobayes.samplers.mala import langevin_proposal

    run = dict(method="nuts", draws=20, warmup=20, chains=1, seed=0, progress=False)
    geobayes.sample("eight_schools", **run)
    kernels = (run_chunk, nuts_step, langevin_proposal)
    loads = [k.stats.cache_hits.total() + k.stats.cache_misses.total() for k in kernels]
    assert loads == [1, 1, 1]  # each loaded from disk or compiled exactly once
    full = json.loads(
        files("geobayes.models").joinpath("data/kidiq-kidscore_interaction.json").read_text()
    )
    first_100 = {k: full[k][:100] for k in ("kid_score", "mom_iq", "mom_hs")} | {"N": 100}
    models = [  # another dimension; another model and data; the same model, new data
        get("arK-arK"),
        get("kidiq-kidscore_interaction"),
        get("kidiq-kidscore_interaction", data=first_100),
    ]
    with event.install_recorder("numba:compile") as rec:
        models.append(geobayes.Model(_user_lpg, {"z": (2,)}, name="user"))  # compiled here
        for model in models:
            geobayes.sample(model, **run)
    compiled = {e.data["dispatcher"].py_func.__module__ for _, e in rec.buffer if e.is_start}
    assert __name__ in compiled  # the recorder sees compilations: the user's model's
    assert not any(m.startswith("geobayes.samplers") for m in compiled), compiled
    assert [k.stats.cache_hits.total() + k.stats.cache_misses.total() for k in kernels] == loads
    assert all(len(k.signatures) == 1 for k in kernels)
