"""``geobayes bench``: the tiny grid, resume, the Dask executor, bad input, a wheel install."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

from geobayes.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
GRID = ["--models", "gaussian", "mixture_2d", "--methods", "hmc", "mala", "--seeds", "0"]
GRID += ["--budget", "2000grad", "--chains", "2", "--no-progress"]


def _records(out):
    return [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "out"
    assert main(["bench", *GRID, "--out", str(out)]) == 0
    return out


def test_tiny_grid_writes_results_table_and_plots(local_grid):
    recs = _records(local_grid)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs), recs
    assert {(r["model"], r["method"]) for r in recs} == {
        (m, k) for m in ("gaussian", "mixture_2d") for k in ("hmc", "mala")
    }
    for r in recs:
        assert r["n_grad"] > 0 and r["wall_s"] > 0 and r["compile_s"] >= 0
        assert r["ess_bulk"] > 0 and r["ess_bulk_per_grad"] == pytest.approx(
            r["ess_bulk"] / r["n_grad"]
        )
        # the budget is met to within the pilot's extrapolation
        assert 0.5 * 2000 < r["n_grad"] < 2.5 * 2000
    # accuracy on the standard Gaussian: each mean within 4.5 MCSE (ESS) of the exact draws'
    for r in recs:
        if r["model"] == "gaussian":
            tol = 4.5 * np.sqrt(1 / r["ess_bulk"] + 1 / 4000)
            assert r["max_mean_err"] < tol, (r["method"], r["max_mean_err"], tol)
    table = (local_grid / "results.md").read_text()
    assert "| gaussian | hmc | 1 |" in table and "| mixture_2d | mala | 1 |" in table
    for png in ("error_vs_cost.png", "ess_per_s.png"):
        assert (local_grid / png).read_bytes()[:4] == b"\x89PNG"


def test_resume_skips_finished_cells(local_grid, tmp_path, capsys):
    out = tmp_path / "resume"
    shutil.copytree(local_grid, out)
    inline = ["--jobs", "0"]  # the cells left run in this process (quicker than a new worker)
    assert main(["bench", *GRID, *inline, "--out", str(out)]) == 0
    assert len(_records(out)) == 4  # nothing rerun
    assert "resuming: 4 of 4 cells already done" in capsys.readouterr().err
    # an interrupted grid: one finished cell lost, one failed -> only those two run again
    lines = (out / "results.jsonl").read_text().splitlines()
    failed = json.loads(lines[1]) | {"status": "error", "error": "killed"}
    (out / "results.jsonl").write_text("\n".join([lines[0], json.dumps(failed), lines[2]]) + "\n")
    assert main(["bench", *GRID, *inline, "--out", str(out)]) == 0
    recs = _records(out)
    assert len(recs) == 5
    rerun = {r["key"] for r in recs[3:]}
    assert rerun == {json.loads(lines[1])["key"], json.loads(lines[3])["key"]}


def test_dask_executor_equals_local(local_grid, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    assert main(["bench", *GRID, "--out", str(out), "--executor", "dask", "--workers", "2"]) == 0
    local = {r["key"]: r for r in _records(local_grid)}
    dask = {r["key"]: r for r in _records(out)}
    assert local.keys() == dask.keys()
    for k, r in dask.items():
        assert r["executor"] == "dask" and local[k]["executor"] == "local"
        for field in (
            "n_grad",
            "size",
            "max_mean_err",
            "max_sd_err",
            "energy_distance",
            "ess_bulk",
        ):
            assert r[field] == local[k][field], (k, field)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "nope", "--methods", "hmc"], "unknown model 'nope'"),
        (["--models", "gaussian", "--methods", "nope"], "unknown method 'nope'; available"),
        (["--models", "gaussian", "--methods", "hmc", "--budget", "0s"], "budget must be positive"),
        (["--models", "gaussian", "--methods", "hmc", "--executor", "ray"], "unknown executor"),
        (["nope"], "unknown suite(s) nope"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    assert main(["bench", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_unwritable_out_and_unreachable_scheduler(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["bench", "--models", "gaussian", "--methods", "hmc", "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err
    t = time.perf_counter()
    args = ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path / "o")]
    assert main(["bench", "--models", "gaussian", "--methods", "hmc", *args]) == 2
    assert time.perf_counter() - t < 10
    assert "cannot reach the dask scheduler" in capsys.readouterr().err


def test_command_works_from_a_wheel_install(tmp_path):
    """Build a wheel, install it (no deps) into a fresh venv that sees this venv's packages."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(
        ROOT / "geobayes", src / "geobayes", ignore=shutil.ignore_patterns("__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("geobayes-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True
    )
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # the dependencies come from the test environment (offline, fast); geobayes from the wheel
    Path(purelib, "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    run = tmp_path / "run"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    r = subprocess.run(
        [
            str(venv / "bin" / "geobayes"),
            "bench",
            "--models",
            "gaussian",
            "--methods",
            "mala",
            "--budget",
            "1000grad",
            "--chains",
            "1",
            "--no-progress",
            "--out",
            "out",
        ],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (rec,) = _records(run / "out")
    assert rec["status"] == "ok" and (run / "out" / "results.md").is_file()
    where = subprocess.run(
        [str(py), "-c", "import geobayes; print(geobayes.__file__)"],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where


@pytest.mark.parametrize("method, budget", [("msip", 200_000), ("shk", 4000)])
def test_particle_methods_run_in_a_cell(method, budget):
    # particle methods scale n_steps to the budget and are scored through their weights
    # (MSIP evaluates its estimator's nodes too: about 60 evaluations per particle and step)
    from geobayes.bench.cell import Budget, CellSpec, run_cell

    hyper = (("n_particles", 40),)
    spec = CellSpec("gaussian", method, 0, Budget("grad", budget), chains=1, hyper=hyper)
    rec = run_cell(spec)
    assert rec["status"] == "ok", rec.get("traceback")
    assert rec["weighted"] and rec["ess_kind"] == "kish"
    assert 0.5 * budget < rec["n_grad"] < 2.5 * budget
    assert rec["ess_bulk"] <= 40 + 1e-9  # Kish ESS cannot exceed the particle count
    # a sanity bound on the harness's weighted scoring only (runs this short are not
    # converged); the samplers' accuracy tests are in tests/samplers/test_msip.py, test_shk.py
    assert rec["max_mean_err"] < 1.0


def test_pymc_versions_of_the_posteriordb_targets_have_their_columns():
    pytest.importorskip("pymc")
    from geobayes.bench.peers.nutpie_peer import _PDB, pymc_model
    from geobayes.bench.targets import get_target, has_reference

    for name in _PDB:
        if not has_reference(name):
            pytest.skip("../shared/reference/posteriordb is absent")
        target = get_target(name, None)
        m = pymc_model(target.model)
        names = {v.name for v in m.free_RVs} | {v.name for v in m.deterministics}
        cols = {c.split("[")[0] for c in target.columns}
        assert cols <= names, (name, cols - names)


def test_a_dead_worker_fails_its_cell_and_the_grid_goes_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned workers inherit it
    from _crash_cell import crash_on_seed_1

    from geobayes.bench import run_grid
    from geobayes.bench.executors import LocalExecutor

    ex = LocalExecutor(jobs=1, cell_fn=crash_on_seed_1)
    recs = run_grid(
        ["gaussian"],
        ["mala"],
        seeds=[0, 1, 2],
        budget="1000grad",
        out=tmp_path / "o",
        chains=1,
        executor=ex,
        progress=False,
        plots=False,
        log=None,
    )
    status = {r["seed"]: r["status"] for r in recs}
    assert status == {0: "ok", 1: "error", 2: "ok"}, status
    dead = next(r for r in recs if r["seed"] == 1)
    assert "worker process died" in dead["error"]
    assert len(_records(tmp_path / "o")) == 3  # every cell written, the dead one as failed
