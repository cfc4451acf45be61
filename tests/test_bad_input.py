"""The bad-input catalogue: every way of asking for something wrong gets one clear error.

Each CLI case asserts exit status 2, one ``error: ...`` line naming the offending
option or value and no traceback; each Python case the exact error class and a message
naming the argument.  Memory refusals use sizes that would need petabytes: they are
refused from the estimate, never allocated.  (Issue 17; the other test modules keep
their own, older cases too.)
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import geobayes
from geobayes.cli.main import main
from geobayes.errors import InsufficientMemoryError


def _cli_error(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    assert err.startswith("error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def csv_files(tmp_path):
    files = {}
    files["empty_cell"] = tmp_path / "empty.csv"
    files["empty_cell"].write_text("v\n1.0\n\n2.0\n")
    files["text_cell"] = tmp_path / "text.csv"
    files["text_cell"].write_text("a,v\n1,1.0\n2,abc\n3,2.0\n")
    files["good"] = tmp_path / "good.csv"
    files["good"].write_text("v\n" + "\n".join(str(0.01 * i) for i in range(50)) + "\n")
    return files


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "argv, match",
    [
        (["simulate", "lorenz63", "--cycles", "0", "--out", "{tmp}/x.nc"], "--cycles must be >= 1"),
        (
            ["simulate", "lorenz63", "--cycles", "-3", "--out", "{tmp}/x.nc"],
            "--cycles must be >= 1",
        ),
        (["filter", "lorenz63", "--cycles", "0"], "--cycles must be >= 1"),
        (["filter", "lorenz63", "--cycles", "5", "--plot", "{tmp}/x.notanimage"], "--plot"),
        (["filter", "lorenz63", "--cycles", "5", "--out", "/dev/full"], "not a regular file"),
        (["sample", "gaussian", "--out", "/dev/null", "--no-progress"], "not a regular file"),
        (["sample", "gaussian", "--out", "{tmp}", "--no-progress"], "it is a folder"),
        (["sample", "gaussian", "--out", "/proc/geobayes.nc", "--no-progress"], "cannot write"),
        (["hgf", "{good}", "--out", "/nonexistent-folder/x.nc"], "does not exist"),
        (["hgf", "{good}", "--plot", "{tmp}/traj.notanimage"], "unknown image format"),
        (["hgf", "{good}", "--fit", "omega_x1", "--plot", "{tmp}/t.xyz"], "unknown image format"),
        (["hgf", "{empty_cell}"], "line 3, column 'v': missing value"),
        (["hgf", "{text_cell}", "--column", "v"], "line 3, column 'v': 'abc' is not a number"),
        (["hgf", "{text_cell}", "--column", "v", "--missing", "skip"], "'abc' is not a number"),
        (["summary", "{good}"], "cannot read"),
    ],
)
def test_cli_bad_input_is_one_line(argv, match, capsys, tmp_path, csv_files):
    subs = {"tmp": str(tmp_path), **{k: str(v) for k, v in csv_files.items()}}
    argv = [a.format(**subs) for a in argv]
    err = _cli_error(argv, capsys)
    assert match in err, err


def test_cli_checks_outputs_before_running(tmp_path, capsys, csv_files, monkeypatch):
    """An unwritable output fails at once: the run (patched to explode) never starts."""
    import geobayes.filters.hgf as hgf_pkg

    def boom(*a, **k):
        raise AssertionError("the run started before the output was checked")

    monkeypatch.setattr(hgf_pkg, "run", boom)
    _cli_error(["hgf", str(csv_files["good"]), "--out", "/nonexistent-folder/x.nc"], capsys)
    monkeypatch.setattr(geobayes, "sample", boom)
    _cli_error(["sample", "gaussian", "--out", "/dev/full"], capsys)


def test_cli_refuses_to_overwrite(tmp_path, capsys, csv_files):
    out = tmp_path / "h.nc"
    out.write_bytes(b"an earlier trace")
    err = _cli_error(["hgf", str(csv_files["good"]), "--out", str(out)], capsys)
    assert "already exists; pass --overwrite" in err
    assert out.read_bytes() == b"an earlier trace"
    assert main(["hgf", str(csv_files["good"]), "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"an earlier trace"
    sim = tmp_path / "s.nc"
    assert main(["simulate", "lorenz63", "--cycles", "5", "--out", str(sim)]) == 0
    err = _cli_error(["simulate", "lorenz63", "--cycles", "5", "--out", str(sim)], capsys)
    assert "--overwrite" in err


def test_cli_missing_skip_keeps_the_time_index(csv_files, tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "h.nc"
    assert main(["hgf", str(csv_files["empty_cell"]), "--missing", "skip", "--out", str(out)]) == 0
    tree = xr.open_datatree(out)
    obs = tree["observed_data"]["observations"].values[:, 0]
    assert obs.shape == (3,) and np.isnan(obs[1]) and obs[2] == 2.0  # row kept, not dropped


def test_summary_of_filter_and_hgf_traces(tmp_path, capsys, csv_files):
    f = tmp_path / "f.nc"
    assert main(["filter", "lorenz63", "--cycles", "30", "--out", str(f), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["summary", str(f)]) == 0
    out = capsys.readouterr().out
    assert "rmse_mean" in out and "final_mean" in out and "rmse" in out
    h = tmp_path / "h.nc"
    assert main(["hgf", str(csv_files["good"]), "--out", str(h)]) == 0
    capsys.readouterr()
    assert main(["summary", str(h)]) == 0
    out = capsys.readouterr().out
    assert "total_surprise" in out and "x1" in out
    err = _cli_error(["summary", str(h), "--var", "nosuch"], capsys)
    assert "unknown node(s) nosuch" in err and "x1" in err and "[" not in err


def test_summary_unknown_variable_is_listed():
    model = geobayes.models.get("gaussian", dim=2)
    t = geobayes.sample(model, "mala", draws=20, warmup=20, chains=1, seed=0, progress=False)
    with pytest.raises(ValueError, match="unknown variable\\(s\\) nosuch; the posterior has: x"):
        geobayes.summary(t, var_names=["nosuch"])


def test_help_texts_have_no_empty_defaults(capsys):
    from geobayes.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for action in p._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help text"
        prose = text.split("examples:")[0]  # example command lines may be long
        for line in prose.splitlines():
            assert len(line) <= 100, (name, line)


def test_broken_pipe_is_quiet(tmp_path):
    """`geobayes models | head -1`: no traceback, no error line when the reader leaves."""
    r = subprocess.run(
        f"{sys.executable} -m geobayes models | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in r.stderr and "Broken pipe" not in r.stderr, r.stderr


# --------------------------------------------------------------------------- Python API
def test_filter_memory_refused_before_allocating():
    ssm = geobayes.filters.models.get("lorenz63")
    _, y = ssm.simulate(20, seed=0)
    with pytest.raises(InsufficientMemoryError, match="ensemble_size") as e:
        geobayes.filter(ssm, y, method="etkf", ensemble_size=10**11)
    assert "TiB" in str(e.value) and "available" in str(e.value)  # ~15 TiB
    assert isinstance(e.value, ValueError) and isinstance(e.value, MemoryError)
    with pytest.raises(InsufficientMemoryError, match="store='moments'"):
        geobayes.filter(
            ssm, np.zeros((10**7, 3)), method="enkf", ensemble_size=10**4, store="ensemble"
        )


def test_filter_on_hgf_network_names_the_method():
    net = geobayes.hgf.continuous_hgf(2)
    with pytest.raises(ValueError, match="method 'etkf' does not apply to an HGF network"):
        geobayes.filter(net, np.zeros(10), method="etkf")


def test_robust_hgf_overflow_message():
    net = geobayes.hgf.continuous_hgf(2)
    u = np.r_[np.zeros(10), 1e300, np.zeros(5)]
    with pytest.raises(ValueError, match="robust update: the posterior precision") as e:
        geobayes.hgf.run(net, u, update="robust")
    assert "use update='robust'" not in str(e.value) and "1e+300" in str(e.value)


def test_particle_filter_collapse_is_warned():
    cfg = geobayes.filters.configs.get("sakov2012")
    x, y = cfg.ssm.simulate(60, seed=0)
    with pytest.warns(RuntimeWarning, match="collapsed"):
        geobayes.filter(cfg.ssm, y, method="pf", ensemble_size=50, seed=1, progress=False)


# --------------------------------------------------------------------------- broken models
def _broken_models():
    import numba

    @numba.njit
    def short_grad(theta, fdata, idata):  # a gradient of the wrong length for x0 > 1
        lp = -0.5 * np.sum(theta * theta)
        if theta[0] > 1.0:
            return lp, -theta[:1].copy()
        return lp, -theta.copy()

    @numba.njit
    def nan_region(theta, fdata, idata):  # undefined (NaN) for x0 > 1
        lp = -0.5 * np.sum(theta * theta)
        if theta[0] > 1.0:
            return np.nan, -theta.copy()
        return lp, -theta.copy()

    p = {"x": (3,)}
    return geobayes.Model(short_grad, params=p, name="short"), geobayes.Model(
        nan_region, params=p, name="nanregion"
    )


@pytest.mark.parametrize("method", ["hmc", "mala", "nuts"])
def test_wrong_gradient_length_names_the_point(method):
    short, _ = _broken_models()
    start = np.zeros(3)
    with pytest.raises(ValueError, match="gradient of length 1 instead of 3 at the unconstrained"):
        geobayes.sample(
            short,
            method,
            draws=200,
            warmup=50,
            chains=2,
            seed=0,
            progress=False,
            initial_points=start,
        )


@pytest.mark.parametrize("method", ["hmc", "mala", "nuts"])
def test_nan_region_is_counted_and_warned(method):
    _, nan_region = _broken_models()
    with pytest.warns(RuntimeWarning, match="met a log density of NaN or \\+inf") as rec:
        t = geobayes.sample(
            nan_region,
            method,
            draws=300,
            warmup=100,
            chains=2,
            seed=0,
            progress=False,
            initial_points=np.zeros(3),
        )
    msg = str(rec[0].message)
    n_bad = int(msg.split(": ")[1].split(" of ")[0])
    assert 0 < n_bad <= int(t.attrs["divergences"])
    assert t.sample_stats["diverging"].dtype == bool
