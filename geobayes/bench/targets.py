"""Benchmark targets: a model plus reference draws to compare sampler output with.

Two kinds of reference:

* **analytic** -- built-in models whose posterior is known in closed form (Gaussians,
  Gaussian mixtures, or any model with an ``exact_draws(rng, n)`` method): the reference
  draws are exact, independent draws;
* **posteriordb** -- the benchmark posteriors of :mod:`geobayes.models.reference`
  (:func:`geobayes.models.posteriors`; a user adds one with
  :func:`geobayes.models.register_posterior`): the reference draws are posteriordb's
  gold-standard draws (``reference_draws.npz``: ``param_names`` + ``draws`` of shape
  ``(chains, draws, k)``) from the posterior's own file, else from ``reference_dir /
  <posterior>`` when given, else from :func:`geobayes.models.reference.reference_root`
  (``$GEOBAYES_POSTERIORDB``, ``../shared/reference/posteriordb``), else from the first
  ``shared/reference/posteriordb`` in the working directory or one of its parents.

Targets are read from the model and posterior registries, so a new built-in model with
a known answer or a newly registered posterior appears here without edits.  Two
further model names share a posteriordb reference: ``eight_schools`` and
``eight_schools_centered`` (the same posterior, centered parameterization).

Columns are Stan-style names of the model's constrained quantities (``mu``,
``theta[1]``, ``x[3]``, 1-based), the names posteriordb uses.

Examples
--------
>>> t = get_target("gaussian")
>>> t.kind, t.columns[:2], t.reference.shape
('analytic', ['x[1]', 'x[2]'], (1, 4000, 10))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Target",
    "get_target",
    "target_names",
    "posteriordb_root",
    "flatten_named",
]

_N_EXACT = 4000  # exact reference draws of analytic targets
_EXACT_SEED = 20261201

#: further model names -> the posterior whose reference draws they share
_SHARED_REFERENCE = {
    "eight_schools": "eight_schools-eight_schools_noncentered",
    "eight_schools_noncentered": "eight_schools-eight_schools_noncentered",
    "eight_schools_centered": "eight_schools-eight_schools_noncentered",
}


def posteriordb_root(reference_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder holding posteriordb posteriors, or None when none is found."""
    if reference_dir is not None:
        p = Path(reference_dir).expanduser()
        if not p.is_dir():
            raise OSError(f"reference folder {reference_dir} does not exist")
        return p
    from geobayes.models.reference import reference_root

    root = reference_root()
    if root is not None:
        return root
    here = Path.cwd().resolve()
    for base in (here, *here.parents):
        cand = base / "shared" / "reference" / "posteriordb"
        if cand.is_dir():
            return cand
    return None


def _posterior_of(name: str, root: Path | None):
    """``(posterior name, reference path or None)`` of a model name, or None."""
    from geobayes.models.reference import _POSTERIORS

    post = _POSTERIORS.get(name)
    pname = post.name if post is not None else _SHARED_REFERENCE.get(name)
    if pname is None:
        return None
    post = _POSTERIORS.get(pname)
    if post is not None and post.reference is not None:
        return pname, Path(post.reference)
    return pname, (root / pname if root is not None else None)


def _reference_file(path: Path | None) -> Path | None:
    if path is None:
        return None
    f = path / "reference_draws.npz" if path.is_dir() else path
    return f if f.is_file() else None


def flatten_named(arrays: dict, chains: int, draws: int) -> dict[str, np.ndarray]:
    """``name -> (chains, draws, *shape)`` arrays to Stan-style columns ``name[i,j]``."""
    out = {}
    for name, arr in arrays.items():
        a = np.asarray(arr, dtype=np.float64).reshape(chains, draws, -1)
        shape = np.shape(arr)[2:]
        if not shape:
            out[name] = a[..., 0]
            continue
        for k, idx in enumerate(np.ndindex(*shape)):
            out[f"{name}[{','.join(str(i + 1) for i in idx)}]"] = a[..., k]
    return out


@dataclass
class Target:
    """A model with reference draws on named columns.

    ``reference`` has shape ``(chains, draws, len(columns))``.  ``columns_of(arrays)``
    picks the same columns from a run's constrained quantities.
    """

    name: str
    kind: str  # "analytic" or "posteriordb"
    model: object
    columns: list[str]
    reference: np.ndarray
    source: str = ""
    extra: dict = field(default_factory=dict)

    def columns_of(self, arrays: dict, chains: int, draws: int) -> np.ndarray:
        """The run's draws on this target's columns, shape ``(chains, draws, k)``."""
        flat = flatten_named(arrays, chains, draws)
        missing = [c for c in self.columns if c not in flat]
        if missing:
            raise ValueError(
                f"the run of {self.name!r} lacks reference columns {missing[:5]}; "
                f"it has {sorted(flat)[:10]}"
            )
        return np.stack([flat[c] for c in self.columns], axis=-1)


def _mixture_parts(model):
    d, k = int(model.idata[0]), int(model.idata[1])
    f = model.fdata
    return np.exp(f[:k]), f[k : k + k * d].reshape(k, d), f[k + k * d : k + k * d + k]


def exact_draws(model, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """``n`` exact draws of the model's (unconstrained = constrained) posterior, or None."""
    if callable(getattr(model, "exact_draws", None)):
        return np.asarray(model.exact_draws(rng, n), dtype=np.float64)
    if hasattr(model, "weights") and getattr(model, "lpg", None) is not None:
        from geobayes.models.mixture import mixture_lpg

        if model.lpg is mixture_lpg:
            w, mu, sd = _mixture_parts(model)
            comp = rng.choice(len(w), size=n, p=w / w.sum())
            return mu[comp] + sd[comp][:, None] * rng.standard_normal((n, mu.shape[1]))
        return None
    if hasattr(model, "true_mean") and hasattr(model, "true_cov"):
        mean = np.asarray(model.true_mean, dtype=np.float64)
        cov = np.asarray(model.true_cov, dtype=np.float64)
        if cov.shape == (mean.size, mean.size) and model.params == {"x": (mean.size,)}:
            return rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    return None


def _analytic(name, model):
    x = exact_draws(model, _N_EXACT, np.random.default_rng(_EXACT_SEED))
    if x is None:
        return None
    arrays = {k: v[None] for k, v in model.constrain(x).items()}
    flat = flatten_named(arrays, 1, x.shape[0])
    cols = [c for c in flat if c.split("[")[0] in model.params]
    ref = np.stack([flat[c] for c in cols], axis=-1)
    return Target(name, "analytic", model, cols, ref, source="exact draws")


def _load_reference(path: Path):
    with np.load(path) as z:
        draws = np.asarray(z["draws"], dtype=np.float64)
        names = [str(s) for s in z["param_names"]]
    return names, draws


def get_target(name: str, reference_dir=None, **model_kwargs) -> Target:
    """Build the target ``name`` (a built-in model with a reference) or raise ValueError."""
    from geobayes.models import available, get

    if name not in available():
        raise ValueError(
            f"unknown model {name!r}; models with references: "
            + ", ".join(target_names(reference_dir))
        )
    model = get(name, **model_kwargs)
    root = posteriordb_root(reference_dir)
    post = _posterior_of(name, root)
    if post is not None:
        posterior, where = post
        path = _reference_file(where)
        if path is None:
            raise OSError(
                f"reference draws of {name!r} ({posterior}) not found"
                + (f" at {where}" if where else "")
                + "; pass --reference-dir (the posteriordb folder) or set GEOBAYES_POSTERIORDB"
            )
        names, draws = _load_reference(path)
        return Target(name, "posteriordb", model, names, draws, source=str(posterior))
    t = _analytic(name, model)
    if t is None:
        raise ValueError(
            f"model {name!r} has no reference (neither exact draws nor a posteriordb "
            f"posterior); models with references: {', '.join(target_names(reference_dir))}"
        )
    return t


def target_names(reference_dir=None, kind: str | None = None) -> list[str]:
    """Built-in models that have a reference: ``kind`` ``"analytic"``, ``"posteriordb"`` or both.

    Posteriors are listed under their primary names (aliases such as ``garch11`` are
    accepted by :func:`get_target` too), plus ``eight_schools_centered``; they need their
    reference draws to be present.  Analytic targets are recognised without building
    their reference.
    """
    from geobayes.models import available, get
    from geobayes.models.reference import _POSTERIORS

    root = posteriordb_root(reference_dir)
    out = []
    for name in available():
        post = _posterior_of(name, root)
        if post is not None:
            primary = name == "eight_schools_centered" or (
                name in _POSTERIORS and _POSTERIORS[name].name == name
            )
            if kind in (None, "posteriordb") and primary and _reference_file(post[1]):
                out.append(name)
            continue
        if kind == "posteriordb":
            continue
        try:
            model = get(name)
        except Exception:  # noqa: BLE001 - a model that needs arguments is no default target
            continue
        if exact_draws(model, 2, np.random.default_rng(0)) is not None:
            out.append(name)
    return out


def has_reference(name: str, reference_dir=None) -> bool:
    """Whether ``name`` (a primary name or an alias) is a model with reference draws."""
    from geobayes.models import available

    if name not in available():
        return False
    post = _posterior_of(name, posteriordb_root(reference_dir))
    if post is not None:
        return _reference_file(post[1]) is not None
    # build this model only (target_names would build, i.e. compile, every built-in)
    from geobayes.models import get

    try:
        model = get(name)
    except Exception:  # noqa: BLE001 - a model that needs arguments is no default target
        return False
    return exact_draws(model, 2, np.random.default_rng(0)) is not None
