"""Write ``tests/data/pymc_rich_reference.json``: pm.sample's trace of ``rich_model``.

Run by hand (``python tests/from_pymc/make_reference.py``); ``make test`` reads the file, so
CI does not run pm.sample (tens of seconds).  Stored: the trace's structure (groups,
variable names, dims, coords) and per-component posterior means with their Monte
Carlo standard errors (ArviZ ``mcse`` of the mean).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _pymc_models import rich_model  # noqa: E402


def structure(tree) -> dict:
    """Groups -> variable -> dims, and coords, of an ArviZ DataTree."""
    out = {}
    for group in ("posterior", "observed_data", "constant_data", "log_likelihood"):
        if group not in tree.children:
            continue
        ds = tree[group].to_dataset()
        out[group] = {name: list(map(str, ds[name].dims)) for name in ds.data_vars}
        out[group + "/coords"] = {
            str(c): [str(v) for v in ds[c].values] for c in ds.coords if c not in ("chain", "draw")
        }
    return out


def main():
    import arviz as az
    import pymc as pm

    model = rich_model()
    idata = pm.sample(
        model=model,
        draws=1500,
        tune=1000,
        chains=4,
        cores=1,
        random_seed=20261201,
        progressbar=False,
        nuts_sampler="pymc",
        compute_convergence_checks=False,
    )
    pm.compute_log_likelihood(idata, model=model, progressbar=False)
    means, mcses = {}, {}
    for name, da in idata.posterior.data_vars.items():
        vals = da.values
        means[name] = vals.mean(axis=(0, 1)).tolist()
        mcses[name] = np.asarray(az.mcse(vals, method="mean")).tolist()
    ref = {
        "source": f"pm.sample (PyMC {pm.__version__}, its own NUTS (nuts_sampler='pymc'), "
        "4 chains x 1500 draws after 1000 tune, random_seed=20261201) on "
        "tests/from_pymc/_pymc_models.py:rich_model; written by "
        "tests/from_pymc/make_reference.py",
        "structure": structure(idata),
        "mean": means,
        "mcse_mean": mcses,
    }
    (HERE.parent / "data").mkdir(exist_ok=True)
    path = HERE.parent / "data" / "pymc_rich_reference.json"
    path.write_text(json.dumps(ref, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
