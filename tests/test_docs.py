"""Docstring examples and the README's Python quick start run as written."""

import doctest
import importlib
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
    "geobayes.adaptation.mass_matrix",
    "geobayes.samplers.mala",
    "geobayes.samplers.hmc",
    "geobayes.trace",
    "geobayes.summary",
    "geobayes.driver",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{name} has no examples"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace = {}
    monkeypatch.setenv("TQDM_DISABLE", "1")  # progress bars off (tqdm reads TQDM_* defaults)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "trace.nc").is_file()
