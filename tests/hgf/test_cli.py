"""The ``geobayes hgf`` subcommand, driven through its own argparse registration."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import xarray as xr

from geobayes.cli import hgf_cmds


def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    hgf_cmds.register(sub)
    return parser.parse_args(["hgf", *argv])


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    x = 1.0 + np.cumsum(rng.normal(0, 0.01, 150))
    b = (rng.uniform(size=150) < 0.7).astype(int)
    path = tmp_path / "data.csv"
    with open(path, "w") as fh:
        fh.write("price,choice\n")
        for xi, bi in zip(x, b, strict=True):
            fh.write(f"{float(xi)!r},{bi}\n")
    return path, x, b


def test_run_writes_trace_and_plot(csv, tmp_path, capsys):
    path, x, _ = csv
    out, png = tmp_path / "t.nc", tmp_path / "t.png"
    args = _parse(
        [
            str(path),
            "--column",
            "price",
            "--levels",
            "3",
            "--update",
            "robust",
            "--out",
            str(out),
            "--plot",
            str(png),
        ]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "150 observations, update robust" in text and "x3" in text
    assert png.stat().st_size > 10_000
    tree = xr.open_datatree(out)
    np.testing.assert_allclose(tree["observed_data"]["observations"].values[:, 0], x)
    assert tree.attrs["method"] == "hgf"
    assert tree["filtered"]["mean"].shape == (150, 4)


def test_binary_column_by_index(csv, capsys):
    path, _, _ = csv
    args = _parse(
        [
            str(path),
            "--column",
            "1",
            "--binary",
            "--levels",
            "3",
            "--update",
            "classic",
            "--omega=-2,-4",
        ]
    )
    assert args.func(args) == 0
    assert "update classic" in capsys.readouterr().out


def test_fit(csv, tmp_path, capsys):
    path, _, _ = csv
    args = _parse(
        [
            str(path),
            "--column",
            "price",
            "--fit",
            "omega_x1",
            "--draws",
            "50",
            "--warmup",
            "50",
            "--chains",
            "1",
            "--plot",
            str(tmp_path / "f.png"),
        ]
    )
    assert args.func(args) == 0
    assert "omega_x1" in capsys.readouterr().out


def test_bad_input(csv, tmp_path):
    path, _, _ = csv
    with pytest.raises(ValueError, match="column 'nope' not in"):
        hgf_cmds.handler(_parse([str(path), "--column", "nope"]))
    with pytest.raises(ValueError, match="out of range"):
        hgf_cmds.handler(_parse([str(path), "--column", "7"]))
    with pytest.raises(ValueError, match="no such file"):
        hgf_cmds.handler(_parse([str(tmp_path / "missing.csv")]))
    with pytest.raises(ValueError, match="binary input"):
        hgf_cmds.handler(_parse([str(path), "--column", "price", "--binary"]))
    with pytest.raises(SystemExit):  # argparse lists the valid choices
        _parse([str(path), "--update", "fancy"])
    assert _parse([str(path), "--update", "unbounded"]).update == "robust"  # alias kept
    with pytest.raises(ValueError, match="--omega needs"):
        hgf_cmds.handler(_parse([str(path), "--omega", "a,b"]))
    bad = tmp_path / "nan.csv"
    bad.write_text("v\n1.0\n\n2.0\nnan\n")
    with pytest.raises(ValueError, match="line 3, column 'v': missing value"):
        hgf_cmds.handler(_parse([str(bad)]))
    assert hgf_cmds.handler(_parse([str(bad), "--missing", "skip"])) == 0


def test_stress_classic_fails_cleanly(tmp_path, capsys):
    p = tmp_path / "stress.csv"
    p.write_text("u\n" + "\n".join(["0.0"] * 200 + ["0.525"] * 20) + "\n")
    with pytest.raises(ValueError, match="node 'x2' at step 200"):
        hgf_cmds.handler(_parse([str(p), "--update", "classic"]))
    assert hgf_cmds.handler(_parse([str(p), "--update", "classic", "--on-failure", "nan"])) == 0
    assert "failed at step 200" in capsys.readouterr().out


def test_noisy_binary_cli(tmp_path, capsys):
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=100) < 0.7) + rng.normal(0, 0.3, 100)
    p = tmp_path / "noisy.csv"
    p.write_text("y\n" + "\n".join(repr(float(v)) for v in y) + "\n")
    args = _parse([str(p), "--binary", "--input-precision", "10"])
    assert args.func(args) == 0
    assert "100 observations" in capsys.readouterr().out
