"""The command line: every command and its --help run; errors are one line with exit code 2."""

import subprocess
import sys

import pytest
import xarray as xr

from geobayes.cli.main import build_parser, main


def test_help_for_every_command(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"models", "methods", "sample", "summary", "demo"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage: geobayes" in out
    assert main([]) == 0


def test_models_and_methods(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "eight_schools_noncentered" in out and "funnel" in out
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "HMC(" in out and "NUTS(" in out and "MSIP(n_particles=100" in out
    assert "default nuts" in out and "(default)" in out.split("nuts ")[1].splitlines()[0]
    assert "MSIP(n_particles=100" in out


def test_sample_then_summary(tmp_path, capsys):
    out = tmp_path / "g.nc"
    code = main(
        [
            "sample",
            "gaussian",
            "--model-arg",
            "dim=3",
            "--method",
            "mala",
            "--draws",
            "200",
            "--warmup",
            "200",
            "--chains",
            "2",
            "--seed",
            "1",
            "--no-progress",
            "--param",
            "target_accept=0.6",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "x[0]" in text and f"wrote {out}" in text
    t = xr.open_datatree(out)
    assert t.posterior["x"].shape == (2, 200, 3)
    assert '"target_accept": 0.6' in t.attrs["settings"]
    assert main(["summary", str(out)]) == 0
    assert "ess_bulk" in capsys.readouterr().out


def test_sample_msip_writes_a_weighted_trace(tmp_path, capsys):
    out = tmp_path / "m.nc"
    argv = ["sample", "funnel", "--method", "msip", "--n-particles", "20", "--n-steps", "10"]
    assert main(argv + ["--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "weighted particles per replicate" in text and "x[0]" in text
    t = xr.open_datatree(out)
    assert t.posterior["x"].shape == (1, 20, 9) and t.attrs["weighted"] == 1
    assert t.sample_stats["mmd"].dims == ("chain", "iteration")
    assert main(["summary", str(out)]) == 0


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sample", "nope"], "error: unknown model 'nope'; available models:"),
        (["sample", "gaussian", "--method", "bogus"], "error: unknown method 'bogus'"),
        (["sample", "gaussian", "--draws", "0"], "error: draws must be >= 1"),
        (["sample", "gaussian", "--chains", "0"], "error: chains must be >= 1"),
        (["sample", "gaussian", "--param", "step_size=0"], "error: step_size must be a positive"),
        (["sample", "gaussian", "--out", "/nonexistent-folder/x.nc"], "error: cannot write"),
        (["sample", "gaussian", "--model-arg", "dim"], "error: --model-arg must look like"),
        (["summary", "/nonexistent-folder/x.nc"], "error: no such trace file"),
        (["sample", "funnel", "--method", "msip", "--n-particles", "0"], "error: n_particles"),
        (["sample", "funnel", "--method", "msip", "--draws", "5"], "error: --draws does not"),
        (["sample", "gaussian", "--n-particles", "5"], "error: --n-particles only applies"),
    ],
)
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv + ["--no-progress"] if argv[0] == "sample" else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_summary_of_a_non_trace_file(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not a netcdf file")
    assert main(["summary", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read")


def test_demo_writes_traces_and_plots(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "== HMC" in out and "== MALA" in out and "theta[7]" in out
    for method in ("hmc", "mala"):
        assert (tmp_path / f"eight_schools_{method}.nc").stat().st_size > 10_000
        assert (tmp_path / f"eight_schools_{method}_trace.png").stat().st_size > 10_000


def test_console_entry_point_runs():
    r = subprocess.run(
        [sys.executable, "-m", "geobayes", "sample", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: unknown model") and "Traceback" not in r.stderr


def test_bench_lists_suites_and_rejects_unknown(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    assert "overhead" in out and "posteriors" in out  # scripted suites of the checkout
    assert "hmc" in out and "gaussian" in out  # the grid's methods and models
    assert main(["bench", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown suite(s) nope")


def test_top_level_exports():
    import geobayes

    assert callable(geobayes.filter) and callable(geobayes.sample)
    assert geobayes.filter is geobayes.filters.filter
    assert hasattr(geobayes.hgf, "continuous_hgf")
    assert {"filter", "hgf", "filters"} <= set(dir(geobayes))
    with pytest.raises(AttributeError):
        geobayes.nonexistent  # noqa: B018


def test_warnings_print_as_one_line(monkeypatch, capsys):
    """A warning raised inside a command reaches the user as one ``warning: ...`` line."""
    import argparse
    import warnings

    import geobayes.cli.main as cli_main

    def command(args):
        warnings.warn("the rule is unstable", UserWarning, stacklevel=2)
        return 0

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(func=command)

    monkeypatch.setattr(cli_main, "build_parser", Parser)
    assert cli_main.main([]) == 0
    err = capsys.readouterr().err
    assert err == "warning: the rule is unstable\n"
