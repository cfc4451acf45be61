"""Docstring examples and the README's Python quick start run as written."""

import doctest
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

MODULES = [
    "geobayes",
    "geobayes.models.base",
    "geobayes.models.distributions",
    "geobayes.models.transforms",
    "geobayes.models.gaussian",
    "geobayes.models.eight_schools",
    "geobayes.models.logistic",
    "geobayes.models.registry",
    "geobayes.models.posteriordb",
    "geobayes.models.reference",
    "geobayes.adaptation.mass_matrix",
    "geobayes.samplers.mala",
    "geobayes.samplers.hmc",
    "geobayes.trace",
    "geobayes.summary",
    "geobayes.driver",
    "geobayes.bench.metrics",
    "geobayes.bench.cell",
    "geobayes.bench.targets",
    "geobayes.samplers.dims",
    "geobayes.models.loss_surfaces",
    "geobayes.models.mlp",
    "geobayes.predictive",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no examples"


def _readme():
    return (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    """Every Python block runs on its own, as a reader would paste it (fresh namespace)."""
    blocks = re.findall(r"```python\n(.*?)```", _readme(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")  # progress bars off (tqdm reads TQDM_* defaults)
    for i, block in enumerate(blocks):
        if "import pymc" in block and importlib.util.find_spec("pymc") is None:
            continue  # the PyMC section needs the optional extra (the dev extra has it)
        namespace = {"__name__": f"readme_block_{i}"}
        exec(compile(block, f"README.md block {i}", "exec"), namespace)
        printed = capsys.readouterr().out
        # a figure the README states in a comment ("# about 0.56") is what the block prints
        for line in block.splitlines():
            m = re.search(r"print\((.*)\)\s*#\s*about ([0-9.]+)", line)
            if m:
                value = float(printed.strip().splitlines()[-1])
                assert abs(value - float(m.group(2))) < 0.01, (line, value)
    assert (tmp_path / "trace.nc").is_file()


#: README shell lines not run here, and where they are covered instead.
_SHELL_SKIP = {
    "make": "the two commands themselves (CI runs make test)",
    "geobayes bench": "tests of the bench harness",
    "geobayes demo": "tests/test_cli.py::test_demo",
    "geobayes sample --pymc": "tests/from_pymc/test_from_pymc.py::test_cli_sample_pymc",
}


def test_readme_cli_block_runs(tmp_path, monkeypatch, capsys):
    """The README's command-line examples run as written (in a scratch folder)."""
    from geobayes.cli.main import main

    block = next(
        b for b in re.findall(r"```sh\n(.*?)```", _readme(), flags=re.S) if "geobayes sample" in b
    )
    lines = block.replace("\\\n", " ").splitlines()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    # the input file the hgf example names (a random-walk series, like the README's)
    import numpy as np

    series = np.cumsum(np.random.default_rng(0).normal(0, 0.01, 300))
    (tmp_path / "series.csv").write_text("usdchf\n" + "\n".join(f"{v:.6f}" for v in series))
    ran = 0
    for line in lines:
        cmd = line.split("#")[0].split()
        if not cmd or any(line.startswith(k) for k in _SHELL_SKIP):
            continue
        assert cmd[0] == "geobayes", line
        if cmd[1] == "sample" and "msip" in cmd:  # particle method: fewer iterations
            cmd += ["--no-progress", "--n-steps", "30"]
        elif cmd[1] == "sample":
            cmd += ["--no-progress", "--draws", "100", "--warmup", "100", "--chains", "2"]  # fast
        assert main(cmd[1:]) == 0, line
        ran += 1
    capsys.readouterr()
    assert ran >= 8
