"""Traces: ArviZ functions work on them, netCDF round trip, weighted-particle convention."""

import matplotlib

matplotlib.use("Agg")

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

import geobayes  # noqa: E402
from geobayes.trace import WEIGHT_CONVENTION, weighted_trace  # noqa: E402


@pytest.fixture(scope="module")
def trace():
    return geobayes.sample(
        "eight_schools", draws=300, warmup=300, chains=4, seed=2, progress=False, save_warmup=True
    )


def test_arviz_functions_run(trace, tmp_path):
    s = az.summary(trace, var_names=["mu", "tau", "theta"])
    assert {"mean", "sd", "ess_bulk", "r_hat"} <= set(s.columns)
    assert s.shape[0] == 10
    assert float(az.ess(trace)["mu"]) > 100
    assert float(az.rhat(trace)["mu"]) < 1.05
    loo = az.loo(trace)
    assert np.isfinite(loo.elpd)
    for plot in (az.plot_trace, az.plot_trace_dist, az.plot_energy):
        pc = plot(
            trace, backend="matplotlib", **({} if plot is az.plot_energy else {"var_names": ["mu"]})
        )
        pc.savefig(tmp_path / "t.png")
        assert (tmp_path / "t.png").stat().st_size > 1000


def test_netcdf_round_trip(trace, tmp_path):
    path = tmp_path / "t.nc"
    trace.to_netcdf(path)
    back = xr.open_datatree(path)
    assert set(back.children) == set(trace.children)
    for group in ("posterior", "sample_stats", "warmup_posterior", "log_likelihood"):
        for name, var in trace[group].data_vars.items():
            np.testing.assert_array_equal(back[group][name].values, var.values)
    assert back.attrs["settings"] == trace.attrs["settings"]
    assert back.attrs["method"] == "nuts"  # the default method
    pd_s = geobayes.summary(back, var_names=["mu"])
    assert pd_s.loc["mu", "mean"] == pytest.approx(float(trace.posterior["mu"].mean()), abs=0.01)


def test_zarr_round_trip(trace, tmp_path):
    trace.to_zarr(tmp_path / "t.zarr")
    back = xr.open_datatree(tmp_path / "t.zarr", engine="zarr")
    np.testing.assert_array_equal(back.posterior["mu"].values, trace.posterior["mu"].values)


def _synthetic_weighted(seed=0, replicates=2, n=4000):
    """Particles from N(0, 1) weighted to target N(1, 0.5^2): known weighted moments."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((replicates, n, 1))
    log_target = -0.5 * ((x[..., 0] - 1.0) / 0.5) ** 2
    log_prop = -0.5 * x[..., 0] ** 2
    return x, log_target - log_prop + 3.0  # unnormalized on purpose


def test_weighted_convention_round_trip(tmp_path):
    x, lw = _synthetic_weighted()
    t = weighted_trace({"x": x}, lw, method="test")
    assert t.attrs["weighted"] == 1 and t.attrs["weight_convention"] == WEIGHT_CONVENTION
    lwn = t.sample_stats["log_weight"].values
    np.testing.assert_allclose(np.exp(lwn).sum(axis=1), 1.0)
    t.to_netcdf(tmp_path / "w.nc")
    back = xr.open_datatree(tmp_path / "w.nc")
    s1, s2 = geobayes.summary(t), geobayes.summary(back)
    np.testing.assert_allclose(s1.values, s2.values)


def test_weighted_summary_matches_hand_computation():
    x, lw = _synthetic_weighted()
    t = weighted_trace({"x": x}, lw)
    s = geobayes.summary(t)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True) / 2
    xs = x[..., 0].ravel()
    wf = w.ravel()
    mean = np.sum(wf * xs)
    assert s.loc["x[0]", "mean"] == pytest.approx(mean, rel=1e-12)
    assert s.loc["x[0]", "sd"] == pytest.approx(np.sqrt(np.sum(wf * (xs - mean) ** 2)), rel=1e-12)
    assert s.loc["x[0]", "ess_kish"] == pytest.approx(1 / np.sum(wf**2), rel=1e-12)
    # importance-sampling estimate of N(1, 0.25): within a few IS standard errors of the truth
    ess = s.loc["x[0]", "ess_kish"]
    assert abs(mean - 1.0) < 4 * 0.5 / np.sqrt(ess)
    assert s.loc["x[0]", "q50"] == pytest.approx(1.0, abs=4 * 0.5 * 1.25 / np.sqrt(ess))
    # adding a constant to the log-weights changes nothing
    s_shift = geobayes.summary(weighted_trace({"x": x}, lw - 50.0))
    np.testing.assert_allclose(s.values, s_shift.values, rtol=1e-12)


def test_resample_gives_equal_weight_trace_with_same_moments():
    x, lw = _synthetic_weighted()
    t = weighted_trace({"x": x}, lw)
    r = geobayes.resample(t, 4000, seed=1)
    assert r.attrs["weighted"] == 0
    assert r.posterior["x"].shape == (1, 4000, 1)
    s = geobayes.summary(t)
    # systematic resampling: the resampled mean differs from the weighted mean by O(range / n)
    assert float(r.posterior["x"].mean()) == pytest.approx(s.loc["x[0]", "mean"], abs=0.01)
    az.summary(r)  # any ArviZ function accepts it
    with pytest.raises(ValueError, match="needs a weighted trace"):
        geobayes.resample(r, 10)


def test_weighted_trace_errors():
    with pytest.raises(ValueError, match="log_weights must have shape"):
        weighted_trace(np.zeros((1, 3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="leads with"):
        weighted_trace(np.zeros((1, 3, 2)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        weighted_trace(np.zeros((1, 2, 1)), np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="finite log-weight"):
        weighted_trace(np.zeros((1, 2, 1)), np.full((1, 2), -np.inf))


def _signed_trace():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 6, 1))
    w = np.array([[0.5, 0.4, -0.1, 0.3, -0.2, 0.1], [0.2, 0.2, 0.2, 0.2, 0.3, -0.1]])
    return x, w, weighted_trace({"x": x}, weights=w, method="test")


def test_signed_weights_convention_and_netcdf_round_trip(tmp_path):
    from geobayes.trace import get_weights, load_trace

    x, w, t = _signed_trace()
    assert t.attrs["signed_weights"] == 1 and "log_weight" not in t.sample_stats
    np.testing.assert_allclose(t.sample_stats["weight"].values, w)  # already sum to one
    t.to_netcdf(tmp_path / "s.nc")
    back = xr.open_datatree(tmp_path / "s.nc")
    np.testing.assert_array_equal(get_weights(back), get_weights(t))
    assert type(load_trace(tmp_path / "s.nc")).__name__ == "WeightedDataTree"
    with pytest.warns(UserWarning, match="quantiles are not defined"):
        s = geobayes.summary(back)
    mean = np.sum(w * x[..., 0]) / 2  # replicates weighted equally
    assert s.loc["x[0]", "mean"] == pytest.approx(mean, rel=1e-12)
    assert np.isnan(s.loc["x[0]", "q50"])
    # non-negative weights keep log_weight, and both readers agree
    t2 = weighted_trace({"x": x}, weights=np.abs(w))
    np.testing.assert_allclose(np.exp(t2.sample_stats["log_weight"].values), get_weights(t2))


def test_resample_refuses_or_clips_negative_weights():
    x, w, t = _signed_trace()
    with pytest.raises(ValueError, match="weights are negative"):
        geobayes.resample(t, 10)
    with pytest.warns(UserWarning, match="clipped 3 negative weights"):
        r = geobayes.resample(t, 1000, seed=0, negative="clip")
    assert r.posterior["x"].shape == (1, 1000, 1)


def test_arviz_on_a_weighted_trace_warns():
    import warnings

    from geobayes.trace import WeightedTraceWarning

    x, lw = _synthetic_weighted()
    t = weighted_trace({"x": x}, lw)
    with pytest.warns(WeightedTraceWarning, match="ArviZ ignores the weights"):
        az.summary(t, kind="stats")
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightedTraceWarning)
        geobayes.summary(t)  # weight-aware: no warning
        az.summary(geobayes.resample(t, 100, seed=0), kind="stats")  # unweighted: none
        _ = t.posterior["x"].values  # the user's own access: none


def test_summary_of_equally_weighted_particles_has_no_chain_diagnostics():
    """SHK's particles are a population, not a Markov chain: no R-hat, Kish ESS = count."""
    model = geobayes.models.get("gaussian", dim=2)
    t = geobayes.sample(model, "shk", n_particles=64, n_steps=3, chains=2, seed=0, progress=False)
    s = geobayes.summary(t)
    assert "r_hat" not in s.columns and list(s["ess_kish"]) == [128.0, 128.0]
    x = t.posterior["x"].values.reshape(-1, 2)
    np.testing.assert_allclose(s["mean"].values, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s["sd"].values, x.std(axis=0), rtol=1e-12)
