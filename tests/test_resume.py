"""Interrupted runs: what they return, and resuming them bit for bit (issue 17).

Interruptions are real SIGINTs (Ctrl-C), sent from inside the chunk kernel after a
chosen number of iterations: the loop stops after the running chunk, the trace keeps
every chain's state, and ``geobayes.sample(model, resume=trace)`` continues it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

import geobayes
from geobayes import _chain_driver

GROUPS = ("posterior", "sample_stats", "warmup_posterior", "warmup_sample_stats")


def _interrupt_after(monkeypatch, iterations, chains):
    """Send SIGINT once the chains have run ``iterations`` iterations (one-iteration chunks)."""
    from geobayes import _loop

    monkeypatch.setattr(_loop, "_TARGET_CHUNK_SECONDS", 1e-9)  # chunks of one iteration
    real = _chain_driver.run_chunk
    seen = {"n": 0, "sent": False}

    def chunk(*args):
        out = real(*args)
        seen["n"] += args[12].shape[0] / chains  # every chain runs every chunk
        if not seen["sent"] and seen["n"] >= iterations:
            seen["sent"] = True
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(_chain_driver, "run_chunk", chunk)


def _assert_same(a, b):
    for group in GROUPS:
        assert (group in a.children) == (group in b.children), group
        if group not in a.children:
            continue
        for name, da in a[group].data_vars.items():
            np.testing.assert_array_equal(da.values, b[group][name].values, err_msg=name)


KW = dict(draws=60, warmup=60, chains=2, seed=7, progress=False, save_warmup=True, cores=1)


@pytest.mark.parametrize("method", ["hmc", "mala", "nuts"])
@pytest.mark.parametrize("stop_at", [30, 90])  # in warmup, in sampling
def test_interrupted_and_resumed_equals_uninterrupted(method, stop_at, monkeypatch):
    model = geobayes.models.get("eight_schools")
    full = geobayes.sample(model, method, **KW)
    _interrupt_after(monkeypatch, stop_at, KW["chains"])
    with (
        pytest.warns(UserWarning, match="interrupted during warmup")
        if stop_at < 60
        else (_no_warning())
    ):
        part = geobayes.sample(model, method, **KW)
    monkeypatch.undo()
    assert part.attrs["partial"]
    done = int(part["sampler_state"]["iteration"].values[0])
    assert done == stop_at  # stopped after the chunk that sent the signal
    if stop_at < 60:
        assert "posterior" not in part.children
        with pytest.raises(ValueError, match="no posterior group"):
            geobayes.summary(part)
    resumed = geobayes.sample(model, resume=part, progress=False)
    assert not resumed.attrs["partial"]
    _assert_same(full, resumed)
    assert resumed.attrs["draws"] == 60


def test_finished_run_extended_equals_longer_run(tmp_path):
    model = geobayes.models.get("gaussian", dim=3)
    kw = dict(warmup=50, chains=2, seed=3, progress=False)
    long = geobayes.sample(model, "nuts", draws=80, **kw)
    short = geobayes.sample(model, "nuts", draws=30, **kw)
    path = tmp_path / "short.nc"
    short.to_netcdf(path)
    back = xr.open_datatree(path)
    more = geobayes.sample(model, resume=back, draws=80, progress=False)
    _assert_same(long, more)


def _interrupt_particles_after(monkeypatch, iterations):
    """Send SIGINT once the replicates have run ``iterations`` population steps."""
    from geobayes import _loop, _particle_driver

    monkeypatch.setattr(_loop, "_TARGET_CHUNK_SECONDS", 1e-9)  # chunks of one iteration
    real = _particle_driver.run_population
    seen = {"n": 0}

    def chunk(*args):
        out = real(*args)
        seen["n"] += 1
        if seen["n"] == iterations:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(_particle_driver, "run_population", chunk)


@pytest.mark.parametrize(
    "method, kw",
    [
        ("msip", dict(n_particles=40, n_steps=12)),
        ("shk", dict(n_particles=60, n_steps=12, particle_history=True)),
    ],
)
def test_particle_run_interrupted_and_resumed_equals_uninterrupted(
    method, kw, monkeypatch, tmp_path
):
    model = geobayes.models.get("gaussian", dim=2)
    run = dict(chains=1, seed=5, progress=False, cores=1, **kw)
    full = geobayes.sample(model, method, **run)
    _interrupt_particles_after(monkeypatch, 5)
    part = geobayes.sample(model, method, **run)
    monkeypatch.undo()
    assert part.attrs["partial"] and part.attrs["n_steps"] == 5
    part.to_netcdf(tmp_path / "part.nc")
    back = xr.open_datatree(tmp_path / "part.nc")
    resumed = geobayes.sample(model, resume=back, progress=False)
    assert not resumed.attrs["partial"] and resumed.attrs["n_steps"] == 12
    for group in ("posterior", "sample_stats", "particle_history"):
        assert (group in full.children) == (group in resumed.children), group
        if group in full.children:
            for name, da in full[group].data_vars.items():
                np.testing.assert_array_equal(da.values, resumed[group][name].values, name)
    # a finished run goes further with a larger n_steps, as one longer run would
    longer = geobayes.sample(model, method, **{**run, "n_steps": 15})
    more = geobayes.sample(model, resume=full, n_steps=15, progress=False)
    np.testing.assert_array_equal(longer.posterior["x"].values, more.posterior["x"].values)
    with pytest.raises(ValueError, match="larger n_steps"):
        geobayes.sample(model, resume=full, progress=False)
    with pytest.raises(TypeError, match="draws does not apply"):
        geobayes.sample(model, resume=full, draws=10, progress=False)
    with pytest.raises(ValueError, match="n_particles cannot be changed"):
        geobayes.sample(model, resume=full, n_particles=10, n_steps=15, progress=False)


@pytest.mark.parametrize("dim", ["aux_dim", "param_dim", "stat"])
def test_particle_resume_refuses_a_state_of_another_layout(dim):
    """A state written by another version (shorter aux/params/stats, as SHK's before its
    MALA move) never reaches the kernels, which index it without bounds checks."""
    model = geobayes.models.get("gaussian", dim=2)
    t = geobayes.sample(model, "shk", n_particles=10, n_steps=3, chains=1, seed=0, progress=False)
    state = t["sampler_state"].to_dataset()
    t["sampler_state"] = xr.DataTree(state.isel({dim: slice(0, state.sizes[dim] - 2)}))
    with pytest.raises(ValueError, match="layout of this version of shk"):
        geobayes.sample(model, resume=t, n_steps=5, progress=False)


def test_resume_bad_input():
    model = geobayes.models.get("gaussian", dim=3)
    t = geobayes.sample(model, "hmc", draws=20, warmup=20, chains=1, seed=0, progress=False)
    with pytest.raises(ValueError, match="already holds 20 draws"):
        geobayes.sample(model, resume=t, draws=20)
    with pytest.raises(ValueError, match="not 'mala'"):
        geobayes.sample(model, "mala", resume=t, draws=40)
    with pytest.raises(ValueError, match="3 parameters, model"):
        geobayes.sample(geobayes.models.get("gaussian", dim=4), resume=t, draws=40)
    with pytest.raises(TypeError, match="seed cannot be changed"):
        geobayes.sample(model, resume=t, draws=40, seed=1)
    del t["sampler_state"]
    with pytest.raises(ValueError, match="carries a 'sampler_state' group"):
        geobayes.sample(model, resume=t, draws=40)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cli_sigint_writes_partial_trace_and_exits_130(tmp_path):
    """A real Ctrl-C to `geobayes sample`: exit 130, the message, the trace on disk."""
    out = tmp_path / "t.nc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "geobayes",
            "sample",
            "gaussian",
            "--method",
            "mala",
            "--draws",
            "10000000",
            "--warmup",
            "10",
            "--chains",
            "1",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TQDM_MININTERVAL": "0"},
    )
    # wait until the progress bar shows sampling has started
    deadline = time.time() + 240
    seen = ""
    while time.time() < deadline:
        ch = proc.stderr.read(1)
        if not ch:  # the process ended before sampling: report it below
            break
        seen += ch
        if "it/s" in seen or "it]" in seen:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130, (stdout, seen + stderr)
    assert "interrupted after" in stderr and f"partial trace written to {out}" in stderr
    t = xr.open_datatree(out)
    assert t.attrs["partial"] and "sampler_state" in t.children
    assert "Traceback" not in stderr


def test_cli_resumes_a_particle_run_with_more_steps(tmp_path, capsys):
    from geobayes.cli.main import main

    a, b, c = (str(tmp_path / f"{n}.nc") for n in "abc")
    base = ["sample", "gaussian", "--method", "shk", "--n-particles", "60", "--seed", "2"]
    assert main([*base, "--n-steps", "4", "--no-progress", "--out", a]) == 0
    assert main([*base, "--n-steps", "7", "--no-progress", "--out", b]) == 0
    assert (
        main(["sample", "gaussian", "--resume", a, "--n-steps", "7", "--no-progress", "--out", c])
        == 0
    )
    capsys.readouterr()
    full, more = xr.open_datatree(b), xr.open_datatree(c)
    assert int(more.attrs["n_steps"]) == 7
    np.testing.assert_array_equal(full.posterior["x"].values, more.posterior["x"].values)
