"""The ``simulate`` and ``filter`` subcommands, driven through their register() parser."""

from __future__ import annotations

import argparse

import pytest
import xarray as xr

from geobayes.cli import filter_cmds


def _parser():
    parser = argparse.ArgumentParser(prog="geobayes")
    filter_cmds.register(parser.add_subparsers(dest="command"))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("cmd", ["simulate", "filter"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args([cmd, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "models: bimodal" in out and "methods:" in out


def test_simulate_then_filter_writes_trace_and_plot(tmp_path, capsys):
    data = tmp_path / "l63.nc"
    assert _run(["simulate", "lorenz63", "--cycles", "200", "--seed", "3", "--out", str(data)]) == 0
    ds = xr.open_dataset(data, engine="h5netcdf")
    assert ds["observations"].shape == (200, 3) and ds["truth"].shape == (200, 3)
    ds.close()
    trace, png = tmp_path / "trace.nc", tmp_path / "fig.png"
    assert (
        _run(
            [
                "filter",
                "lorenz63",
                "--data",
                str(data),
                "--method",
                "etkf",
                "--ensemble-size",
                "10",
                "--param",
                "inflation=1.02",
                "--param",
                "rotate=True",
                "--burn-in",
                "20",
                "--out",
                str(trace),
                "--plot",
                str(png),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "etkf on lorenz63: 200 cycles, rmse" in out and "spread" in out
    tree = xr.open_datatree(trace, engine="h5netcdf")
    assert tree.attrs["burn_in"] == 20 and tree.attrs["rmse_mean"] < 1.0
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_filter_from_configuration_and_model_args(capsys):
    assert (
        _run(
            [
                "filter",
                "sakov2008",
                "--method",
                "letkf",
                "--ensemble-size",
                "8",
                "--param",
                "inflation=1.04",
                "--cycles",
                "100",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "letkf on lorenz96: 100 cycles" in capsys.readouterr().out
    assert (
        _run(
            [
                "filter",
                "sakov2012",
                "--method",
                "etkf",
                "--ensemble-size",
                "10",
                "--param",
                "inflation=1.02",
                "--param",
                "rotate=True",
                "--cycles",
                "100",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "reference rmse.a for ETKF N=10 infl=1.02 rot in sakov2012: 0.60" in (
        capsys.readouterr().out
    )
    assert (
        _run(
            [
                "filter",
                "lorenz96",
                "--model-arg",
                "dim=12",
                "--method",
                "pf",
                "--ensemble-size",
                "50",
                "--cycles",
                "20",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "log-evidence" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["filter", "lorenz63", "--method", "nope", "--cycles", "5"], "unknown filter method"),
        (["filter", "nomodel"], "unknown state-space model"),
        (["filter", "lorenz63", "--ensemble-size", "1", "--cycles", "5"], "ensemble_size"),
        (["filter", "lorenz63", "--param", "inflation", "--cycles", "5"], "NAME=VALUE"),
        (["simulate", "lorenz63", "--out", "/nonexistent-folder/x.nc"], "does not exist"),
    ],
)
def test_errors_are_one_line(argv, match, capsys):
    assert filter_cmds.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and err.count("\n") == 1
