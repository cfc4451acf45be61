"""The driver: reproducibility, thread-count independence, Ctrl-C, warmup groups, bad input."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import geobayes
from geobayes import _chain_driver, _loop
from geobayes.errors import InitializationError

SMALL = dict(draws=200, warmup=200, chains=3, progress=False)


def test_same_seed_same_draws_different_seed_different():
    a = geobayes.sample("eight_schools", seed=7, **SMALL)
    b = geobayes.sample("eight_schools", seed=7, **SMALL)
    c = geobayes.sample("eight_schools", seed=8, **SMALL)
    np.testing.assert_array_equal(a.posterior["theta"].values, b.posterior["theta"].values)
    np.testing.assert_array_equal(
        a.sample_stats["step_size"].values, b.sample_stats["step_size"].values
    )
    assert not np.array_equal(a.posterior["mu"].values, c.posterior["mu"].values)
    # chains are different streams
    mu = a.posterior["mu"].values
    assert not np.array_equal(mu[0], mu[1])


def test_thread_count_and_chunking_do_not_change_draws(monkeypatch):

    a = geobayes.sample("eight_schools", method="mala", seed=3, cores=1, **SMALL)
    monkeypatch.setattr(_loop, "_TARGET_CHUNK_SECONDS", 1e-6)  # many tiny chunks
    b = geobayes.sample("eight_schools", method="mala", seed=3, cores=3, **SMALL)
    np.testing.assert_array_equal(a.posterior["mu"].values, b.posterior["mu"].values)


def test_bit_identical_in_fresh_process_with_other_numba_thread_count():
    code = textwrap.dedent(
        """
        import numpy as np, geobayes
        t = geobayes.sample("eight_schools", method="hmc", draws=50, warmup=50, chains=2,
                            seed=21, progress=False)
        np.save(__import__("sys").argv[1], t.posterior["theta"].values)
        """
    )
    out = []
    for threads in ("1", "2"):
        path = os.path.join(
            os.environ.get("PYTEST_TMP", "/tmp"), f"gb_thr_{os.getpid()}_{threads}.npy"
        )
        env = dict(os.environ, NUMBA_NUM_THREADS=threads)
        subprocess.run([sys.executable, "-c", code, path], check=True, env=env, timeout=300)
        out.append(np.load(path))
        os.remove(path)
    here = geobayes.sample(
        "eight_schools", method="hmc", draws=50, warmup=50, chains=2, seed=21, progress=False
    )
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], here.posterior["theta"].values)


def test_ctrl_c_returns_partial_trace(monkeypatch):

    calls = {"n": 0}
    real_wait = _loop.wait

    def interrupting_wait(futures, **kwargs):
        calls["n"] += 1
        out = real_wait(futures, **kwargs)
        if calls["n"] == 12:  # a Ctrl-C while the main thread waits for a chunk to end
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(_loop, "wait", interrupting_wait)
    monkeypatch.setattr(_loop, "_TARGET_CHUNK_SECONDS", 1e-6)
    t = geobayes.sample(
        "gaussian", method="mala", draws=1000, warmup=2, chains=3, cores=2, seed=0, progress=False
    )
    assert t.attrs["partial"] == 1
    n = t.posterior.sizes["draw"]
    assert 0 < n < 1000
    assert np.all(np.isfinite(t.posterior["x"].values))
    full = geobayes.sample(
        "gaussian", method="mala", draws=1000, warmup=2, chains=3, cores=2, seed=0, progress=False
    )
    assert full.attrs["partial"] == 0
    # what was kept is exactly the beginning of the uninterrupted run
    np.testing.assert_array_equal(t.posterior["x"].values, full.posterior["x"].values[:, :n])
    # the chains stopped at one iteration with consistent states: resuming finishes the run
    monkeypatch.undo()
    more = geobayes.sample(geobayes.models.get("gaussian"), resume=t, progress=False)
    np.testing.assert_array_equal(more.posterior["x"].values, full.posterior["x"].values)


def test_save_warmup_and_groups():
    t = geobayes.sample("eight_schools", save_warmup=True, seed=1, **SMALL)
    assert {
        "posterior",
        "sample_stats",
        "warmup_posterior",
        "warmup_sample_stats",
        "observed_data",
        "log_likelihood",
    } <= set(t.children)
    assert t.warmup_posterior.sizes["draw"] == 200
    ss = t.sample_stats
    assert {"lp", "acceptance_rate", "step_size", "n_steps", "diverging", "energy"} <= set(
        ss.data_vars
    )
    assert ss["diverging"].dtype == bool
    assert t.attrs["n_gradient_evals"] == int(
        ss["n_steps"].sum() + t.warmup_sample_stats["n_steps"].sum()
    )
    t2 = geobayes.sample("eight_schools", save_warmup=False, seed=1, **SMALL)
    assert t2.attrs["n_gradient_evals"] == t.attrs["n_gradient_evals"]
    # the step size is fixed after warmup
    assert np.all(ss["step_size"].values == ss["step_size"].values[:, :1])
    for key in (
        "created_at",
        "inference_library",
        "inference_library_version",
        "method",
        "settings",
        "seed",
        "sampling_time",
    ):
        assert key in t.attrs
    assert t.attrs["inference_library"] == "geobayes"
    # lp stored is the log density of the stored draw
    m = geobayes.models.get("eight_schools")
    theta = np.concatenate(
        [
            t.posterior["mu"].values[0, :3, None],
            np.log(t.posterior["tau"].values[0, :3, None]),
            t.posterior["theta_trans"].values[0, :3],
        ],
        axis=1,
    )
    np.testing.assert_allclose(
        [m.logdensity(th) for th in theta], ss["lp"].values[0, :3], rtol=1e-10
    )


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(draws=0), ValueError, "draws must be >= 1"),
        (dict(chains=0), ValueError, "chains must be >= 1"),
        (dict(warmup=-1), ValueError, "warmup must be >= 0"),
        (dict(draws=1.5), TypeError, "draws must be an integer"),
        (dict(method="nuts3"), ValueError, "unknown method 'nuts3'; available methods: dims, "),
        (dict(method=3), TypeError, "method must be a name"),
        (dict(step_size=0.0), ValueError, "step_size must be a positive"),
        (dict(step_size=-0.1), ValueError, "step_size must be a positive"),
        (dict(method="hmc", integration_time=0), ValueError, "integration_time must be"),
        (dict(method="mala", target_accept=1.2), ValueError, "target_accept must be in"),
        (dict(initial_points=np.zeros(3)), ValueError, "initial_points must have shape"),
        (dict(seed=-1), ValueError, "seed must be a non-negative"),
        (dict(seed="x"), TypeError, "seed must be an int"),
        (dict(bogus=1), TypeError, "bad hyperparameters for method 'nuts'"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        geobayes.sample("gaussian", **{**dict(progress=False), **kwargs})


def test_bad_model_and_nonfinite_initial_points():
    with pytest.raises(ValueError, match="unknown model"):
        geobayes.sample("gausian", progress=False)
    with pytest.raises(TypeError, match="model must be a geobayes.Model"):
        geobayes.sample(42, progress=False)

    @numba.njit
    def nowhere(theta):
        return -np.inf, -theta

    with pytest.raises(InitializationError, match="no initial point with a finite log density"):
        geobayes.sample(geobayes.Model(nowhere, {"x": (2,)}), progress=False)

    @numba.njit
    def nan_grad_left(theta):  # finite only for theta[0] > 0: found after a few tries
        if theta[0] <= 0:
            return 0.0, np.full(theta.shape[0], np.nan)
        return -0.5 * theta @ theta, -theta

    t = geobayes.sample(
        geobayes.Model(nan_grad_left, {"x": (2,)}),
        draws=10,
        warmup=10,
        chains=2,
        progress=False,
        seed=0,
    )
    assert t.posterior.sizes["draw"] == 10
    with pytest.raises(InitializationError, match="initial_points: the given point"):
        geobayes.sample(
            geobayes.Model(nan_grad_left, {"x": (2,)}), initial_points=[-1.0, 0.0], progress=False
        )


def test_divergences_are_counted_not_propagated():
    """A model with a hard wall: HMC transitions into the wall are rejected and flagged."""

    @numba.njit
    def wall(theta):
        if theta[0] > 1.0:
            return -np.inf, np.zeros(theta.shape[0])
        return -0.5 * theta @ theta, -theta

    t = geobayes.sample(
        geobayes.Model(wall, {"x": (2,)}),
        method="hmc",
        draws=500,
        warmup=300,
        chains=2,
        seed=0,
        progress=False,
    )
    x = t.posterior["x"].values
    assert np.all(x[..., 0] <= 1.0) and np.all(np.isfinite(x))
    assert t.sample_stats["diverging"].values.sum() > 0
    assert t.attrs["divergences"] == int(t.sample_stats["diverging"].values.sum())


def test_one_compiled_chunk_kernel_for_all_models():
    from geobayes.samplers._chunk import run_chunk
    from geobayes.samplers.hmc import hmc_step
    from geobayes.samplers.mala import langevin_proposal, mala_step

    for name in ("gaussian", "banana", "eight_schools"):
        for method in ("hmc", "mala"):
            geobayes.sample(name, method=method, draws=5, warmup=5, chains=1, progress=False)
    geobayes.sample(
        "banana", method="hmc", metric="dense", draws=5, warmup=30, chains=1, progress=False
    )
    assert len(run_chunk.signatures) == 1
    assert len(hmc_step.signatures) == 1 and len(mala_step.signatures) == 1
    assert len(langevin_proposal.signatures) == 1


_CACHE_PROBE = """
import geobayes
from geobayes.samplers._chunk import run_chunk
for name, method in (("gaussian", "hmc"), ("banana", "mala")):
    geobayes.sample(name, method=method, draws=5, warmup=5, chains=1, progress=False)
print(len(run_chunk.signatures), sum(run_chunk.stats.cache_hits.values()),
      sum(run_chunk.stats.cache_misses.values()))
"""


def test_chunk_kernel_cache_is_hit_in_a_new_process():
    """After this process compiled (and cached) run_chunk, a fresh process sampling two
    other models with two methods loads it from disk: one signature, no cache miss."""
    geobayes.sample("gaussian", method="hmc", draws=5, warmup=5, chains=1, progress=False)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    out = subprocess.run(
        [sys.executable, "-c", _CACHE_PROBE],
        check=True,
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    ).stdout.split()
    n_sig, hits, misses = map(int, out[-3:])
    assert n_sig == 1 and hits == 1 and misses == 0


def test_ctrl_c_single_thread_keeps_completed_chunks(monkeypatch):
    """With one thread the chunks run in the main thread; Ctrl-C arrives between chunks."""

    real = _chain_driver.run_chunk
    calls = {"n": 0}

    def interrupted_after(*args):
        out = real(*args)
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(_chain_driver, "run_chunk", interrupted_after)
    monkeypatch.setattr(_loop, "_TARGET_CHUNK_SECONDS", 1e-6)
    t = geobayes.sample(
        "gaussian", method="hmc", draws=1000, warmup=10, chains=2, seed=4, cores=1, progress=False
    )
    monkeypatch.setattr(_chain_driver, "run_chunk", real)
    full = geobayes.sample(
        "gaussian", method="hmc", draws=1000, warmup=10, chains=2, seed=4, cores=1, progress=False
    )
    n = t.posterior.sizes["draw"]
    assert t.attrs["partial"] == 1 and 0 < n < 1000
    np.testing.assert_array_equal(t.posterior["x"].values, full.posterior["x"].values[:, :n])


def test_chunk_kernel_releases_the_gil():
    """Chains run in threads: while one chunk runs, Python code in another thread proceeds."""
    import threading

    from geobayes.samplers._chunk import N_BASE_STATS, run_chunk
    from geobayes.samplers.hmc import hmc_step

    m = geobayes.models.gaussian(dim=50)
    n = 20000

    def job():
        x = np.zeros(50)
        lp, g = m.lpg(x, m.fdata, m.idata)
        run_chunk(
            np.random.default_rng(1),
            hmc_step,
            m.lpg,
            m.fdata,
            m.idata,
            x,
            g,
            np.array([lp, 0.2]),
            np.zeros(9),
            np.ones(50),
            np.zeros(101),
            np.array([2.0, 100.0]),
            np.zeros(n, np.int64),
            np.empty((n, 50)),
            np.empty((n, N_BASE_STATS + 1)),
        )

    job()
    th = threading.Thread(target=job)
    th.start()
    count = 0
    while th.is_alive():
        count += 1
    th.join()
    # holding the GIL for the whole chunk would leave the loop at a handful of iterations
    assert count > 1000
