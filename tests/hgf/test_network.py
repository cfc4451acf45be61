"""HGF networks end to end: stress series, binary tracking, input errors, API, caching."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobayes.filters import hgf
from geobayes.filters.hgf import _kernels as K


def _stress(n_before=200, n_after=100, jump=0.525):
    return np.r_[np.zeros(n_before), np.full(n_after, jump)]


# ---------------------------------------------------------------- stress (spec §7.6)
@pytest.mark.parametrize("levels", [2, 3])
def test_stress_classic_fails_robust_tracks(levels):
    u = _stress()
    net = hgf.continuous_hgf(levels)
    with pytest.raises(
        ValueError, match=r"non-positive posterior precision .* node 'x2' at step 200"
    ):
        net.run_filter(u, update="classic")
    nan_tree = net.run_filter(u, update="classic", on_failure="nan")
    assert nan_tree.attrs["failed_step"] == 200
    assert np.isnan(nan_tree["filtered"]["mean"].sel(node="x1").values[201:]).all()
    tree = net.run_filter(u, update="robust")
    for g in ("filtered", "predicted"):
        for v in ("mean", "precision"):
            assert np.all(np.isfinite(tree[g][v].values[:, 1:]))
    assert np.all(tree["filtered"]["precision"].values[:, 1:] > 0)
    x1 = tree["filtered"]["mean"].sel(node="x1").values
    # recovers within a few steps: x1 within 1 % of the new level from step 203 on
    assert np.all(np.abs(x1[203:] - 0.525) < 0.01 * 0.525)
    assert np.all(np.isfinite(tree["sample_stats"]["surprise"].values))


def test_jump_of_50_predictive_sds():
    """Spec §7.6 on a series built here: a jump of 50 predictive standard deviations."""
    rng = np.random.default_rng(3)
    u = np.cumsum(rng.normal(0, 0.01, 300))
    net = hgf.continuous_hgf(2)
    pre = net.run_filter(u[:200], update="robust")
    sd = 1.0 / np.sqrt(pre["predicted"]["precision"].sel(node="u").values[-1])
    u[200:] += 50 * sd
    with pytest.raises(ValueError, match="step 200"):
        net.run_filter(u, update="classic")
    tree = net.run_filter(u, update="robust")
    assert np.all(np.isfinite(tree["filtered"]["precision"].values[:, 1:]))
    err = np.abs(tree["filtered"]["mean"].sel(node="x1").values - u)
    assert np.all(err[205:] < 0.5 * sd * 50 / 10)


# ---------------------------------------------------------------- binary tracking
def test_binary_hgf_tracks_switching_probability():
    rng = np.random.default_rng(0)
    p = np.repeat(np.tile([0.85, 0.15], 4), 60)  # 8 blocks of 60 trials
    u = (rng.uniform(size=p.size) < p).astype(float)
    tree = hgf.binary_hgf(3).run_filter(u, update="robust")
    belief = tree["predicted"]["mean"].sel(node="x1").values  # sigmoid(mu_hat_2), clipped
    # late in each block (last 30 trials) the belief is on the right side, and close
    late = np.tile(np.r_[np.zeros(30, bool), np.ones(30, bool)], 8)
    assert np.mean(np.abs(belief[late] - p[late])) < 0.2
    assert np.corrcoef(belief, p)[0, 1] > 0.75
    side = (belief[late] > 0.5) == (p[late] > 0.5)
    assert side.mean() > 0.9
    assert np.all(np.isfinite(tree["filtered"]["precision"].values[:, 1:]))


# ---------------------------------------------------------------- bad input
def test_bad_observations():
    net = hgf.continuous_hgf(2)
    with pytest.raises(ValueError, match="observation 3 of input 'u' is NaN"):
        net.run_filter([0.0, 0.1, 0.2, np.nan])
    with pytest.raises(ValueError, match="infinite"):
        net.run_filter([0.0, np.inf])
    with pytest.raises(ValueError, match="shape"):
        net.run_filter(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="empty"):
        net.run_filter([])
    with pytest.raises(TypeError, match="numeric"):
        net.run_filter(["a", "b"])
    with pytest.raises(ValueError, match="binary input 'x1' needs values 0 or 1, got 0.5"):
        hgf.binary_hgf(3).run_filter([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="Update: unknown value 'fast'"):
        net.run_filter([0.0, 1.0], update="fast")
    with pytest.raises(TypeError, match="Network"):
        hgf.run(object(), [0.0])


def test_bad_network_parameters():
    with pytest.raises(ValueError, match="precision must be finite and > 0"):
        hgf.continuous_hgf(2, precision=0.0)
    with pytest.raises(ValueError, match="input precision must be finite and > 0"):
        hgf.continuous_hgf(2, input_precision=-1.0)
    with pytest.raises(ValueError, match="volatility coupling must be finite and > 0"):
        hgf.continuous_hgf(3, volatility_coupling=[1.0, -0.5])
    with pytest.raises(ValueError, match="levels must be 2 or 3"):
        hgf.continuous_hgf(4)
    with pytest.raises(ValueError, match="time_step"):
        hgf.continuous_hgf(2).run_filter([0.0], time_step=0.0)
    net = hgf.Network()
    net.add_node("a")
    net.add_node("b")
    net.add_volatility_parent("a", "b")
    with pytest.raises(ValueError, match="cycle"):
        net.add_value_parent("b", "a")
    assert net.parents("b") == []  # the rejected edge was not kept
    with pytest.raises(ValueError, match="no input"):
        net.run_filter([0.0])
    with pytest.raises(ValueError, match="already a parent"):
        net.add_volatility_parent("a", "b")


def test_missing_values_skip():
    rng = np.random.default_rng(1)
    u = np.cumsum(rng.normal(0, 0.01, 100))
    net = hgf.continuous_hgf(3)
    full = net.run_filter(u)
    # skip mode without NaN is identical
    same = net.run_filter(u, missing="skip")
    np.testing.assert_array_equal(full["filtered"]["mean"].values, same["filtered"]["mean"].values)
    um = u.copy()
    um[40:45] = np.nan
    tree = net.run_filter(um, missing="skip")
    m = tree["filtered"]["mean"].values
    p = tree["filtered"]["precision"].values
    ph = tree["predicted"]["precision"].values
    np.testing.assert_array_equal(m[:40], full["filtered"]["mean"].values[:40])
    for j in (1, 2, 3):  # no update: the posterior is the prediction, precision ages
        np.testing.assert_array_equal(m[40:45, j], m[39, j])
        np.testing.assert_array_equal(p[40:45, j], ph[40:45, j])
        assert np.all(np.diff(p[39:45, j]) < 0)
    assert np.all(tree["sample_stats"]["surprise"].values[40:45] == 0.0)
    assert np.all(np.isfinite(m[45:, 1:]))


# ---------------------------------------------------------------- general networks
def test_custom_network_matches_constructor():
    net = hgf.Network()
    u = net.add_input("u", precision=1e4)
    x1 = net.add_node("x1")
    x2 = net.add_node("x2")
    net.add_value_parent(u, x1)
    net.add_volatility_parent(x1, x2)
    obs = np.sin(np.arange(200) / 10.0)
    a = net.run_filter(obs)
    b = hgf.continuous_hgf(2).run_filter(obs)
    np.testing.assert_array_equal(a["filtered"]["mean"].values, b["filtered"]["mean"].values)
    assert net.parents("x1", volatility=True) == ["x2"]
    assert net.children("x1") == ["u"]


@pytest.mark.parametrize("update", ["classic", "ehgf", "robust"])
def test_general_network_runs(update):
    """Two inputs sharing a value parent, a node with value and volatility parents,
    a shared volatility parent with two volatility children (experimental general path)."""
    net = hgf.Network()
    net.add_input("u1")
    net.add_input("u2")
    for name in ("a", "b", "v", "top"):
        net.add_node(name, tonic_volatility=-4.0)
    net.add_value_parent("u1", "a")
    net.add_value_parent("u2", "a", coupling=0.5)
    net.add_value_parent("u2", "b")
    net.add_volatility_parent("a", "v")
    net.add_volatility_parent("b", "v")
    net.add_volatility_parent("v", "top")
    rng = np.random.default_rng(2)
    obs = np.cumsum(rng.normal(0, 0.02, (300, 2)), axis=0)
    tree = net.run_filter(obs, update=update)
    assert np.all(np.isfinite(tree["filtered"]["mean"].values))
    assert np.all(tree["filtered"]["precision"].values[:, 2:] > 0)
    assert tree["observed_data"]["observations"].shape == (300, 2)


def test_value_parent_of_continuous_node_and_drift():
    """A 3-node value chain with drift: the posterior means follow a linear trend."""
    net = hgf.Network()
    net.add_input("u", precision=100.0)
    net.add_node("x1", tonic_volatility=-2.0)
    net.add_node("x2", tonic_volatility=-6.0, tonic_drift=0.0)
    net.add_value_parent("u", "x1")
    net.add_value_parent("x1", "x2")
    t = np.arange(300)
    tree = net.run_filter(0.01 * t, value_update="smoothed")
    x1 = tree["filtered"]["mean"].sel(node="x1").values
    assert abs(x1[-1] - 2.99) < 0.1
    # pyhgf-0.3 prediction variant runs too
    assert np.isfinite(net.run_filter(0.01 * t, prediction="pyhgf").attrs["total_surprise"])


# ---------------------------------------------------------------- output / API
def test_datatree_layout_and_attrs():
    import geobayes

    obs = np.sin(np.arange(50) / 5.0)
    tree = hgf.run(hgf.continuous_hgf(3), obs, update="ehgf")
    assert set(tree.children) == {"filtered", "predicted", "sample_stats", "observed_data"}
    assert tree["filtered"]["mean"].dims == ("time", "node")
    assert list(tree["filtered"]["mean"].node.values) == ["u", "x1", "x2", "x3"]
    assert tree.attrs["inference_library"] == "geobayes"
    assert tree.attrs["inference_library_version"] == geobayes.__version__
    assert tree.attrs["method"] == "hgf" and tree.attrs["update"] == "ehgf"
    settings = json.loads(tree.attrs["settings"])
    assert settings["update"] == "ehgf" and len(settings["network"]["nodes"]) == 4
    np.testing.assert_allclose(tree["filtered"]["sd"], tree["filtered"]["precision"] ** -0.5)
    np.testing.assert_allclose(tree["predicted"]["sd"], tree["predicted"]["precision"] ** -0.5)
    assert tree.attrs["log_evidence"] == -tree.attrs["total_surprise"]
    assert tree.attrs["n_cycles"] == 50
    s = tree["sample_stats"]["surprise"].values
    np.testing.assert_allclose(tree.attrs["total_surprise"], s.sum())
    # proper predictive surprise: Gaussian with variance 1/pi_hat_1 + 1/pi_u
    ph1 = tree["predicted"]["precision"].sel(node="x1").values
    mh1 = tree["predicted"]["mean"].sel(node="x1").values
    var = 1.0 / ph1 + 1e-4
    np.testing.assert_allclose(
        s, 0.5 * (np.log(2 * np.pi * var) + (obs - mh1) ** 2 / var), rtol=1e-12
    )


def test_geobayes_filter_delegates():
    from geobayes.filters import filter as gb_filter

    obs = np.sin(np.arange(30) / 5.0)
    net = hgf.continuous_hgf(2)
    a = gb_filter(net, obs, update="robust")
    b = net.run_filter(obs)
    np.testing.assert_array_equal(a["filtered"]["mean"].values, b["filtered"]["mean"].values)
    c = gb_filter(net, obs, method="classic", seed=1)
    assert c.attrs["update"] == "classic"


def test_one_compiled_kernel_and_warm_cache_in_new_process():
    """New networks and parameters never recompile; a fresh process loads from cache."""
    for levels in (2, 3):
        for om in (-3.0, -5.0):
            hgf.continuous_hgf(levels, tonic_volatility=om).run_filter(np.zeros(10))
    hgf.binary_hgf(2).run_filter(np.ones(5))
    assert len(K.filter_core.signatures) == 2  # float64 and complex128, eager
    code = textwrap.dedent("""
        import time, numpy as np
        t0 = time.perf_counter()
        from geobayes.filters.hgf import _kernels as K, continuous_hgf
        continuous_hgf(3).run_filter(np.zeros(10))
        print(sum(K.filter_core.stats.cache_hits.values()),
              sum(K.filter_core.stats.cache_misses.values()), time.perf_counter() - t0)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    hits, misses, seconds = int(out[0]), int(out[1]), float(out[2])
    print(f"fresh process: {hits} cache hits, {misses} misses, import + first run {seconds:.2f} s")
    assert hits == 2 and misses == 0


# ---------------------------------------------------------------- fast path == general path
@pytest.mark.parametrize("update", ["classic", "ehgf", "robust"])
@pytest.mark.parametrize("prediction", ["mean_field", "pyhgf"])
@pytest.mark.parametrize("kind", ["c2", "c3", "b2", "b3"])
def test_chain_fast_path_equals_general_kernel(update, prediction, kind):
    """The scalar fast path for standard chains and the general graph kernel agree to
    rounding on random parameters (drift and autoconnection included), with missing
    values, on both the float and the complex (gradient) instantiation.

    The two kernels arrange the same equations differently (the fast path avoids
    divisions on its critical path), so they differ by rounding, which the filter
    amplifies without bound once it runs away (posterior means of hundreds, or the
    NaN continuation after a failure).  They are compared on the steps before the
    first failure and before any mean leaves [-10, 10]; both must report the same
    failure (code, step, node)."""
    from geobayes.filters.hgf.run import run_arrays

    rng = np.random.default_rng(zlib.crc32(f"{update}-{prediction}-{kind}".encode()))
    levels = int(kind[1])
    compared = 0
    for _ in range(5):
        nc = levels if kind[0] == "c" else levels - 1
        kw = dict(
            tonic_volatility=rng.uniform(-6, -2, nc),
            mean=rng.normal(0, 0.5, nc),
            precision=rng.uniform(0.5, 3, nc),
            tonic_drift=rng.normal(0, 1e-3, nc),
            autoconnection=rng.uniform(0.95, 1.0, nc),
        )
        if nc > 1:
            kw["volatility_coupling"] = rng.uniform(0.5, 1.5, nc - 1)
        if kind[0] == "c":
            net = hgf.continuous_hgf(levels, input_precision=rng.uniform(1e2, 1e4), **kw)
            u = np.cumsum(rng.normal(0, 0.03, 400))
        else:
            net = hgf.binary_hgf(levels, **kw)
            u = (rng.uniform(size=400) < 0.6).astype(float)
        u[rng.choice(400, 20, replace=False)] = np.nan
        obs = np.ascontiguousarray(u[:, None])
        g = net.global_params(time_step=rng.uniform(0.3, 2.0))
        res = []
        for fast in (True, False):
            inet, npar, epar = net.compile(
                update, prediction, "canonical", "nan", "skip", fast_path=fast
            )
            assert (inet[K.H_CHAIN] > 0) == fast
            res.append(run_arrays(inet, npar, epar, g, obs))
            # complex instantiation (used by the gradient) with a perturbed omega
            npc = npar.astype(complex)
            npc[1, K.OMEGA] += 1e-20j
            out = [np.empty((400, npar.shape[0]), complex) for _ in range(4)]
            surp = np.empty(400, complex)
            K.filter_core(
                inet,
                npc,
                epar.astype(complex),
                g.astype(complex),
                obs,
                np.empty(0),
                1,
                *out,
                surp,
                np.zeros(4),
            )
            res.append(np.c_[out[0], surp].imag)  # derivatives of means and surprises
        (a_mean, a_prec, a_em, a_ep, a_s, a_st, _), ca = res[0], res[1]
        (b_mean, b_prec, b_em, b_ep, b_s, b_st, _), cb = res[2], res[3]
        np.testing.assert_array_equal(a_st[:3], b_st[:3])
        np.testing.assert_allclose(a_st[3], b_st[3], rtol=1e-9, equal_nan=True)
        stop = int(a_st[1]) if a_st[0] != K.OK else 400
        wild = np.flatnonzero(np.any(np.abs(np.nan_to_num(a_mean[:, 1:])) > 10.0, axis=1))
        stop = min([stop, *wild[:1]])
        compared += stop
        for x, y in ((a_mean, b_mean), (a_prec, b_prec), (a_em, b_em), (a_ep, b_ep), (a_s, b_s)):
            np.testing.assert_allclose(x[:stop], y[:stop], rtol=1e-9, atol=1e-14, equal_nan=True)
        np.testing.assert_allclose(ca[:stop], cb[:stop], rtol=1e-8, atol=1e-30, equal_nan=True)
    assert compared >= 1200  # of 2000 steps (measured: 1521 at least); runaways are few


# ---------------------------------------------------------------- robust in the loop
@settings(max_examples=60, deadline=None)
@given(
    levels=st.sampled_from([2, 3]),
    seed=st.integers(0, 2**31 - 1),
    jump=st.floats(1e-3, 1e3),
    omega=st.floats(-8.0, 0.0),
    kappa=st.floats(0.2, 3.0),
    log_pi_u=st.floats(0.0, 8.0),
)
def test_robust_network_stays_finite_on_extreme_series(levels, seed, jump, omega, kappa, log_pi_u):
    """Random walks with outliers and level shifts of any size up to 1e3: every
    posterior precision of the robust HGF stays finite and positive (and the series'
    surprise finite), whereas classic is allowed to fail."""
    rng = np.random.default_rng(seed)
    u = np.cumsum(rng.normal(0, 0.01, 150))
    u[rng.integers(10, 150, 3)] += jump * rng.choice([-1, 1], 3)
    u[100:] += jump
    net = hgf.continuous_hgf(
        levels, tonic_volatility=omega, volatility_coupling=kappa, input_precision=10.0**log_pi_u
    )
    tree = net.run_filter(u, update="robust")
    prec = tree["filtered"]["precision"].values[:, 1:]
    assert np.all(np.isfinite(prec)) and np.all(prec > 0)
    assert np.all(np.isfinite(tree["filtered"]["mean"].values))
    assert np.isfinite(tree.attrs["total_surprise"])


# ---------------------------------------------------------------- noisy binary input
def test_noisy_binary_input_limits_and_surprise():
    """Spec §3 (Mathys 2014, eq. 39).  With a huge input precision the noisy input is
    the exact binary one (same trajectories; the surprise differs by the density
    constant log sqrt(pi_u / 2 pi)); the surprise is minus the log mixture density."""
    from scipy.stats import norm

    rng = np.random.default_rng(4)
    u = (rng.uniform(size=200) < 0.7).astype(float)
    exact = hgf.binary_hgf(3).run_filter(u)
    noisy = hgf.binary_hgf(3, input_precision=1e12).run_filter(u)
    assert noisy.attrs["settings"].count("noisy-binary-input") == 1
    for g in ("filtered", "predicted"):
        np.testing.assert_allclose(
            noisy[g]["mean"].sel(node=["x2", "x3"]).values,
            exact[g]["mean"].sel(node=["x2", "x3"]).values,
            rtol=1e-10,
        )
    np.testing.assert_allclose(
        noisy["sample_stats"]["surprise"].values + 0.5 * np.log(1e12 / (2 * np.pi)),
        exact["sample_stats"]["surprise"].values,
        rtol=1e-9,
    )
    # moderate noise: surprise = -log(m N(u; 1, 1/pi_u) + (1 - m) N(u; 0, 1/pi_u))
    y = u + rng.normal(0, 0.5, u.size)
    tree = hgf.binary_hgf(3, input_precision=4.0, input_values=(0.0, 1.0)).run_filter(y)
    m = tree["predicted"]["mean"].sel(node="x1").values
    dens = m * norm.pdf(y, 1.0, 0.5) + (1 - m) * norm.pdf(y, 0.0, 0.5)
    np.testing.assert_allclose(tree["sample_stats"]["surprise"].values, -np.log(dens), rtol=1e-10)
    np.testing.assert_allclose(
        tree["sample_stats"]["surprise_input"].values, -np.log(dens), rtol=1e-10
    )
    # the posterior of x1 is Bayes' rule
    post = tree["filtered"]["mean"].sel(node="x1").values
    np.testing.assert_allclose(post, m * norm.pdf(y, 1.0, 0.5) / dens, rtol=1e-10)
    with pytest.raises(ValueError, match="two distinct numbers"):
        hgf.binary_hgf(3, input_precision=4.0, input_values=(1.0, 1.0))


def test_noisy_binary_tracks_switching_probability():
    rng = np.random.default_rng(0)
    p = np.repeat(np.tile([0.85, 0.15], 4), 60)
    x = (rng.uniform(size=p.size) < p).astype(float)
    y = x + rng.normal(0, 0.4, p.size)  # sensory noise sd 0.4
    tree = hgf.binary_hgf(3, input_precision=1 / 0.4**2).run_filter(y, update="robust")
    belief = tree["predicted"]["mean"].sel(node="x1").values
    assert np.corrcoef(belief, p)[0, 1] > 0.7
    late = np.tile(np.r_[np.zeros(30, bool), np.ones(30, bool)], 8)
    assert ((belief[late] > 0.5) == (p[late] > 0.5)).mean() > 0.85
