"""PyMC models in geobayes: log density, data handling, trace layout, errors, CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pm = pytest.importorskip(
    "pymc", reason="PyMC is not installed: pip install 'geobayes[pymc]' (the dev extra has it)"
)

import arviz as az  # noqa: E402
from _stats import POSTERIORDB, Z_MCSE, skip_without_posteriordb  # noqa: E402

import geobayes  # noqa: E402
from geobayes.models import eight_schools  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pymc_models import EIGHT_SIGMA, EIGHT_Y, eight_schools_noncentered, rich_model  # noqa: E402

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "pymc_rich_reference.json"


@pytest.fixture(scope="module")
def eight():
    return geobayes.Model.from_pymc(eight_schools_noncentered())


@pytest.fixture(scope="module")
def rich():
    return geobayes.Model.from_pymc(rich_model())


@pytest.fixture(scope="module")
def rich_trace(rich):
    return geobayes.sample(
        rich, method="hmc", draws=1500, warmup=500, chains=4, seed=3, progress=False
    )


def _same_up_to_constant(model_a, model_b, points):
    lps = []
    for x in points:
        lp_a, g_a = model_a.logdensity_and_grad(x)
        lp_b, g_b = model_b.logdensity_and_grad(x)
        np.testing.assert_allclose(g_a, g_b, rtol=1e-10, atol=1e-12)
        lps.append(lp_a - lp_b)
    assert np.ptp(lps) < 1e-9, lps


def test_eight_schools_equals_builtin(eight):
    assert eight.params == {"mu": (), "tau_log__": (), "theta_trans": (8,)}
    rng = np.random.default_rng(0)
    _same_up_to_constant(eight, eight_schools(), rng.normal(scale=2.0, size=(20, 10)))


def test_wrapper_inlines_the_graph_function(eight):
    """The LPG wrapper inlines PyTensor's graph function (no call layer) and equals it."""
    from geobayes.models.from_pymc import _graph_function

    b = eight._builder
    jit_fn = b.jit_fns["lpg"]
    assert _graph_function(jit_fn, len(b.input_kinds) + 1) is not jit_fn  # the inlined path
    args = [
        np.asarray(v, dtype=np.int64 if v.dtype.kind in "biu" else float) for v in b.node_values()
    ]
    x = np.random.default_rng(2).normal(size=10)
    lp, g = eight.lpg(x, eight.fdata, eight.idata)
    out = jit_fn(x, *args)
    assert lp == float(out[0]) and np.array_equal(g, out[1])


def test_data_travel_as_data(eight):
    """New data reuse the compiled function; the log density follows the data."""
    assert "y" in eight.lifted and "sigma" in eight.lifted
    new_y = EIGHT_Y[::-1] + 3.0
    new_sigma = EIGHT_SIGMA * 1.5
    other = eight.with_data(y=new_y, sigma=new_sigma)
    assert other.lpg is eight.lpg  # no recompilation
    assert not np.array_equal(other.fdata, eight.fdata)
    rng = np.random.default_rng(1)
    _same_up_to_constant(other, eight_schools(y=new_y, sigma=new_sigma), rng.normal(size=(5, 10)))
    assert other.observed_data["y"].tolist() == new_y.tolist()
    assert other.constant_data["sigma"].tolist() == new_sigma.tolist()
    with pytest.raises(ValueError, match="unknown data name"):
        eight.with_data(nope=1.0)
    with pytest.raises(ValueError, match="keep its shape"):
        eight.with_data(y=np.ones(9))
    # pm.set_data, then from_pymc again: cached compiled functions, the new data
    pm_model = eight.pymc_model
    schools = list(pm_model.coords["school"])
    pm_model.set_data("sigma", new_sigma)
    try:
        again = geobayes.Model.from_pymc(pm_model)
        assert again.lpg is eight.lpg
        assert again.constant_data["sigma"].tolist() == new_sigma.tolist()
        _same_up_to_constant(again, eight_schools(sigma=new_sigma), rng.normal(size=(3, 10)))
        # a shape change through pm.set_data: a bare with_data() refuses it clearly
        pm_model.set_data("sigma", np.ones(9), coords={"school": list(range(9))})
        with pytest.raises(ValueError, match=r"'sigma' must keep its shape \(8,\).*from_pymc"):
            eight.with_data()
    finally:
        pm_model.set_data("sigma", EIGHT_SIGMA, coords={"school": schools})


@skip_without_posteriordb("eight_schools-eight_schools_noncentered")
def test_eight_schools_hmc_against_posteriordb(eight):
    name = "eight_schools-eight_schools_noncentered"
    ref = json.loads((POSTERIORDB / name / "reference_summary.json").read_text())["statistics"]
    trace = geobayes.sample(
        eight, method="hmc", draws=2500, warmup=500, chains=4, seed=5, progress=False
    )
    post = trace.posterior
    cols = {"mu": post["mu"].values, "tau": post["tau"].values}
    for j in range(8):
        cols[f"theta[{j + 1}]"] = post["theta"].values[..., j]
    for col, draws in cols.items():
        r = ref[col]
        se = np.hypot(float(az.mcse(draws, method="mean")), r["mcse_mean"])
        assert abs(draws.mean() - r["mean"]) < Z_MCSE * se, col
        se_sd = np.hypot(float(az.mcse(draws, method="sd")), r["mcse_sd"])
        assert abs(draws.std(ddof=1) - r["sd"]) < Z_MCSE * se_sd, col


def _structure(tree):
    out = {}
    for group in ("posterior", "observed_data", "constant_data", "log_likelihood"):
        if group not in tree.children:
            continue
        ds = tree[group].to_dataset()
        out[group] = {name: list(map(str, ds[name].dims)) for name in ds.data_vars}
        out[group + "/coords"] = {
            str(c): [str(v) for v in ds[c].values] for c in ds.coords if c not in ("chain", "draw")
        }
    return out


def test_rich_model_trace_like_pm_sample(rich_trace):
    ref = json.loads(REFERENCE.read_text())
    assert _structure(rich_trace) == ref["structure"]
    post = rich_trace.posterior
    # constraints hold draw by draw
    assert np.all(post["sigma"].values > 0)
    assert np.all((post["p"].values > 0) & (post["p"].values < 1))
    np.testing.assert_allclose(post["w"].values.sum(-1), 1.0, rtol=1e-12)
    assert np.all(np.diff(post["cuts"].values, axis=-1) > 0)
    np.testing.assert_allclose(
        post["scaled_w"].values, post["w"].values * post["sigma"].values[..., None], rtol=1e-12
    )
    for name, ref_mean in ref["mean"].items():
        draws = post[name].values
        est = draws.reshape(draws.shape[:2] + (-1,)).mean(axis=(0, 1))
        se = np.hypot(
            np.asarray(az.mcse(draws, method="mean")).ravel(), np.ravel(ref["mcse_mean"][name])
        )
        err = np.abs(est - np.ravel(ref_mean))
        assert np.all(err < Z_MCSE * se), (name, est, ref_mean, err / se)


def test_rich_model_loo(rich_trace):
    assert set(rich_trace.log_likelihood.data_vars) == {"y", "k"}
    loo = az.loo(rich_trace, var_name="y")
    assert np.isfinite(loo.elpd)


def test_log_likelihood_is_pymc_logp(rich, rich_trace):
    """Pointwise values equal PyMC's own elementwise logp at a few draws."""
    import pytensor

    model = rich.pymc_model
    obs = model.observed_RVs
    fn = pytensor.function(
        model.value_vars, model.logp(vars=obs, sum=False), on_unused_input="ignore"
    )
    rng = np.random.default_rng(2)
    thetas = rng.normal(size=(3, rich.dim))
    ll = rich.loglik(thetas)
    for i, theta in enumerate(thetas):
        values = dict(zip(rich.value_names, _unflatten(rich, theta), strict=True))
        expected = fn(**values)
        for rv, exp in zip(obs, expected, strict=True):
            np.testing.assert_allclose(ll[rv.name][i], exp, rtol=1e-10)


def _unflatten(model, theta):
    return [v[0] for v in model.split(theta[None]).values()]


def test_samplers_do_not_recompile(eight, rich, rich_trace):
    from geobayes.samplers._chunk import run_chunk

    # the fixtures sampled one PyMC model already; a second one loads or compiles nothing
    events = run_chunk.stats.cache_hits.total() + run_chunk.stats.cache_misses.total()
    geobayes.sample(eight, method="hmc", draws=20, warmup=20, chains=1, seed=0, progress=False)
    assert len(run_chunk.signatures) == 1  # the eager signature with its LPG argument
    assert run_chunk.stats.cache_hits.total() + run_chunk.stats.cache_misses.total() == events
    assert events == 1  # the one load (or first compile) at import


def test_sample_accepts_pymc_model_directly():
    with pm.Model() as model:
        pm.Normal("x", 1.0, 2.0)
    trace = geobayes.sample(model, draws=300, warmup=200, chains=2, seed=0, progress=False)
    assert list(trace.posterior.data_vars) == ["x"]


def test_errors():
    with pm.Model() as discrete:
        pm.Poisson("n", 3.0)
        pm.Bernoulli("b", 0.5)
        pm.Normal("x", 0.0, 1.0)
    with pytest.raises(TypeError, match=r"discrete free variables: n, b.*Metropolis"):
        geobayes.Model.from_pymc(discrete)
    with pm.Model() as empty:
        pm.Data("d", np.ones(3))
    with pytest.raises(ValueError, match="no free random variables"):
        geobayes.Model.from_pymc(empty)
    with pytest.raises(TypeError, match="pymc.Model"):
        geobayes.Model.from_pymc("not a model")


@pytest.mark.filterwarnings("ignore:.*should implement `pullback`")
def test_op_without_numba_implementation():
    import pytensor.tensor as pt
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class PythonOnlySquare(Op):
        __props__ = ()

        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(inputs[0] ** 2)

        def grad(self, inputs, grads):
            return [2 * inputs[0] * grads[0]]

    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0)
        pm.Potential("pot", -PythonOnlySquare()(x))
    with pytest.raises(TypeError, match="PythonOnlySquare.*Numba"):
        geobayes.Model.from_pymc(model)


def test_cli_sample_pymc(tmp_path, capsys):
    from geobayes.cli.main import main

    src = tmp_path / "my_model.py"
    src.write_text("import pymc as pm\nwith pm.Model() as model:\n    pm.Normal('a', 0.0, 1.0)\n")
    out = tmp_path / "t.nc"
    code = main(
        [
            "sample",
            "--pymc",
            f"{src}:model",
            "--draws",
            "100",
            "--warmup",
            "100",
            "--chains",
            "2",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and out.is_file()
    assert "a" in capsys.readouterr().out
    assert main(["sample", "--pymc", f"{src}:nothing", "--no-progress"]) == 2
    assert "defines no 'nothing'" in capsys.readouterr().err
    assert main(["sample", "--pymc", f"{src}"]) == 2
    assert main(["sample", "gaussian", "--pymc", f"{src}:model"]) == 2


def test_core_does_not_import_pymc():
    import subprocess

    code = "import sys, geobayes, geobayes.cli.main; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_doctest():
    import doctest

    from geobayes.models import from_pymc

    result = doctest.testmod(from_pymc, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
