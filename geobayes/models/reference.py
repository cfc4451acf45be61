r"""Benchmark posteriors: a model plus reference draws, and the comparison of a trace with them.

A *reference posterior* is a model factory together with draws that are known to be right
(posteriordb's gold-standard Stan draws, or any the user trusts).  The built-ins are the eight
posteriordb posteriors (:mod:`geobayes.models.posteriordb`, eight schools); a user adds one
with :func:`register_posterior`.  The bench harness and the tests go through three calls::

    >>> import geobayes.models as gm
    >>> post = gm.get_posterior("garch-garch11")       # a ReferencePosterior
    >>> model = post.model()                            # a geobayes.Model
    >>> ref = post.load_reference()                     # doctest: +SKIP
    >>> ref.names[:2], ref.draws.shape                  # doctest: +SKIP
    (('mu', 'alpha0'), (10, 1000, 4))
    >>> table = ref.compare(trace)                      # doctest: +SKIP

Reference files
---------------
A reference is either

* a **posteriordb folder** (the layout of ``../shared/reference/posteriordb/<name>/``):
  ``reference_draws.npz`` with ``draws`` (chains, draws, columns) and ``param_names``, and
  optionally ``reference_summary.json`` with per-column ``mean``, ``sd``, ``mcse_mean`` and
  ``mcse_sd`` (used as given: posteriordb's are computed over the unthinned draws); or
* a single **``.npz`` file** with the same two arrays, whose statistics are computed here
  with ArviZ.

Column names follow Stan: ``"sigma"``, ``"beta[2]"`` (1-based), ``"Omega[1,2]"``; column
``"beta[2]"`` of a reference is the trace's posterior variable ``beta`` at flat index 1.

Where built-in references are looked up: the folder named by the environment variable
``GEOBAYES_POSTERIORDB`` if set, else ``../shared/reference/posteriordb`` beside a source
checkout of geobayes, else ``../shared/reference/posteriordb`` relative to the working
directory.  A user reference is a path given to :func:`register_posterior`.

Comparison
----------
:meth:`ReferenceDraws.compare` sets the trace's draws beside the reference, column by column:
the error of the mean in *combined standard errors* ``z_mean = (mean - ref_mean) /
sqrt(mcse^2 + ref_mcse^2)`` (our MCSE from ArviZ's bulk ESS), the error of the mean in
reference standard deviations, and the ratio of standard deviations.

Examples
--------
Registering a posterior of one's own (draws here from the exact posterior of a Gaussian):

>>> import numpy as np, tempfile, os
>>> import geobayes.models as gm
>>> path = os.path.join(tempfile.mkdtemp(), "gauss3.npz")
>>> draws = np.random.default_rng(0).normal(size=(4, 1000, 3))
>>> np.savez(path, draws=draws, param_names=np.array(["x[1]", "x[2]", "x[3]"]))
>>> post = gm.register_posterior(
...     "my-gauss3", lambda: gm.gaussian(dim=3), reference=path, description="N(0, I), 3-D")
>>> post.load_reference().draws.shape
(4, 1000, 3)
>>> gm.get("my-gauss3").dim                     # now an ordinary built-in model name too
3
>>> gm.unregister_posterior("my-gauss3")
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geobayes.models.base import Model

__all__ = [
    "ReferencePosterior",
    "ReferenceDraws",
    "register_posterior",
    "unregister_posterior",
    "get_posterior",
    "posteriors",
    "load_reference",
    "reference_root",
    "trace_columns",
]

ENV_VAR = "GEOBAYES_POSTERIORDB"
_SHARED = Path("..") / "shared" / "reference" / "posteriordb"


def reference_root() -> Path | None:
    """The folder holding the built-in references, or None when none is found.

    ``$GEOBAYES_POSTERIORDB`` if set; else ``../shared/reference/posteriordb`` beside a source
    checkout of geobayes; else the same path relative to the working directory.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]  # <checkout>/geobayes/models/reference.py
    for cand in (repo / _SHARED, Path.cwd() / _SHARED):
        if cand.is_dir():
            return cand.resolve()
    return None


_COLUMN = re.compile(r"^([^\[\]]+)(?:\[([0-9 ,]+)\])?$")


def _parse_column(col: str) -> tuple[str, tuple[int, ...]]:
    m = _COLUMN.match(col)
    if m is None:
        raise ValueError(f"reference column {col!r} is not of the form name or name[i,j,...]")
    idx = () if m.group(2) is None else tuple(int(i) - 1 for i in m.group(2).split(","))
    if any(i < 0 for i in idx):
        raise ValueError(f"reference column {col!r}: Stan indices start at 1")
    return m.group(1), idx


def trace_columns(trace, names) -> np.ndarray:
    """The trace's posterior draws as columns named like Stan's (``"beta[2]"``, 1-based).

    Parameters
    ----------
    trace : xarray.DataTree
        A geobayes (or any ArviZ) trace with a ``posterior`` group.
    names : sequence of str
        Column names.

    Returns
    -------
    ndarray of shape (chains, draws, len(names))
    """
    post = trace["posterior"] if "posterior" in trace.children else trace.posterior
    cols = []
    for col in names:
        var, idx = _parse_column(col)
        if var not in post.data_vars:
            raise ValueError(
                f"reference column {col!r}: the trace has no posterior variable {var!r} "
                f"(it has {', '.join(sorted(post.data_vars))})"
            )
        arr = np.asarray(post[var].values)  # (chain, draw, *shape)
        event = arr.shape[2:]
        if len(idx) != len(event) or any(i >= s for i, s in zip(idx, event, strict=False)):
            raise ValueError(
                f"reference column {col!r} does not index variable {var!r} of shape {event}"
            )
        cols.append(arr[(slice(None), slice(None), *idx)])
    return np.stack(cols, axis=-1)


@dataclass(frozen=True)
class ReferenceDraws:
    """Reference draws and their per-column statistics.

    Attributes
    ----------
    names : tuple of str
        Column names (Stan style, 1-based indices).
    draws : ndarray of shape (chains, draws, n_columns)
    mean, sd, mcse_mean, mcse_sd : ndarray of shape (n_columns,)
        Reference mean, standard deviation (ddof=1) and their Monte Carlo standard errors.
    source : str
        Where the draws were read from.
    """

    names: tuple[str, ...]
    draws: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)
    sd: np.ndarray = field(repr=False)
    mcse_mean: np.ndarray = field(repr=False)
    mcse_sd: np.ndarray = field(repr=False)
    source: str = ""

    def compare(self, trace):
        """Column-by-column comparison of a trace with the reference.

        Returns
        -------
        pandas.DataFrame
            Indexed by column name, with ``mean``, ``ref_mean``, ``mcse_mean``,
            ``ref_mcse_mean``, ``z_mean`` (error of the mean in combined standard errors),
            ``err_mean_sd`` (error of the mean in reference sds), ``sd``, ``ref_sd``,
            ``mcse_sd``, ``ref_mcse_sd``, ``sd_ratio`` and ``ess_bulk``.
        """
        import arviz as az
        import pandas as pd

        x = trace_columns(trace, self.names)
        mean = x.mean(axis=(0, 1))
        sd = x.reshape(-1, x.shape[-1]).std(axis=0, ddof=1)
        se = np.asarray(az.mcse(x, method="mean"), dtype=float)
        se_sd = np.asarray(az.mcse(x, method="sd"), dtype=float)
        ess = np.asarray(az.ess(x, method="bulk"), dtype=float)
        combined = np.hypot(se, self.mcse_mean)
        return pd.DataFrame(
            {
                "mean": mean,
                "ref_mean": self.mean,
                "mcse_mean": se,
                "ref_mcse_mean": self.mcse_mean,
                "z_mean": (mean - self.mean) / combined,
                "err_mean_sd": (mean - self.mean) / self.sd,
                "sd": sd,
                "ref_sd": self.sd,
                "mcse_sd": se_sd,
                "ref_mcse_sd": self.mcse_sd,
                "sd_ratio": sd / self.sd,
                "ess_bulk": ess,
            },
            index=pd.Index(list(self.names), name="column"),
        )


def _stats_from_draws(draws: np.ndarray):
    import arviz as az

    flat = draws.reshape(-1, draws.shape[-1])
    return (
        flat.mean(axis=0),
        flat.std(axis=0, ddof=1),
        np.asarray(az.mcse(draws, method="mean"), dtype=float),
        np.asarray(az.mcse(draws, method="sd"), dtype=float),
    )


def _read_npz(path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    try:
        with np.load(path) as npz:
            if "draws" not in npz or "param_names" not in npz:
                raise ValueError(
                    f"reference file {path} must hold arrays 'draws' (chains, draws, columns) "
                    f"and 'param_names'; it has {', '.join(npz.files)}"
                )
            draws = np.asarray(npz["draws"], dtype=np.float64)
            names = tuple(str(s) for s in npz["param_names"])
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read reference draws {path}: {exc}") from None
    if draws.ndim != 3 or draws.shape[-1] != len(names) or draws.shape[1] < 4:
        raise ValueError(
            f"reference file {path}: 'draws' must have shape (chains, draws >= 4, "
            f"{len(names)}), got {draws.shape}"
        )
    if not np.all(np.isfinite(draws)):
        raise ValueError(f"reference file {path}: 'draws' holds non-finite values")
    for n in names:
        _parse_column(n)
    return draws, names


def load_reference(source) -> ReferenceDraws:
    """Read reference draws from a registered posterior's name, a folder or an ``.npz`` file.

    Parameters
    ----------
    source : str or path-like
        A name of :func:`posteriors` (its registered reference, or ``<root>/<name>`` under
        :func:`reference_root` for the built-ins), a posteriordb-style folder, or an ``.npz``
        file with ``draws`` and ``param_names``.

    Returns
    -------
    ReferenceDraws

    Raises
    ------
    FileNotFoundError
        When the reference draws are not there (e.g. ``../shared`` is absent).
    """
    if isinstance(source, str) and source in _POSTERIORS:
        return _POSTERIORS[source].load_reference()
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a posterior name or a path, got {type(source).__name__}")
    path = Path(source)
    if path.is_dir():
        npz = path / "reference_draws.npz"
        if not npz.is_file():
            raise FileNotFoundError(f"no reference_draws.npz in {path}")
        draws, names = _read_npz(npz)
        summary = path / "reference_summary.json"
        if summary.is_file():
            with open(summary, encoding="utf-8") as f:
                stats = json.load(f)["statistics"]
            try:
                cols = [stats[n] for n in names]
                arrays = [
                    np.array([float(c[k]) for c in cols])
                    for k in ("mean", "sd", "mcse_mean", "mcse_sd")
                ]
            except KeyError as exc:
                raise ValueError(f"{summary} lacks statistic {exc} for a column") from None
        else:
            arrays = _stats_from_draws(draws)
        return ReferenceDraws(names, draws, *arrays, source=str(path))
    if path.is_file():
        draws, names = _read_npz(path)
        return ReferenceDraws(names, draws, *_stats_from_draws(draws), source=str(path))
    if isinstance(source, str) and os.sep not in source and not source.endswith(".npz"):
        raise ValueError(
            f"unknown reference posterior {source!r}; registered: {', '.join(posteriors())} "
            "(or give a folder or an .npz file)"
        )
    raise FileNotFoundError(f"reference draws not found: {path}")


@dataclass(frozen=True)
class ReferencePosterior:
    """A benchmark posterior: a model factory and where its reference draws are.

    Parameters
    ----------
    name : str
        Registered name (a posteriordb posterior name for the built-ins).
    model_factory : callable
        ``model_factory(**kwargs) -> geobayes.Model``.
    reference : path-like, optional
        A posteriordb-style folder or an ``.npz`` file; ``None`` means the folder
        ``<reference_root()>/<name>``.
    description : str
        One line shown by ``geobayes models``.
    aliases : tuple of str
        Other names the posterior is registered under.
    """

    name: str
    model_factory: Callable[..., Model] = field(repr=False)
    reference: str | os.PathLike | None = None
    description: str = ""
    aliases: tuple[str, ...] = ()

    def model(self, **kwargs) -> Model:
        """Build the model (keyword arguments go to the factory)."""
        model = self.model_factory(**kwargs)
        if not isinstance(model, Model):
            raise TypeError(
                f"the model factory of posterior {self.name!r} returned "
                f"{type(model).__name__}, not a geobayes.Model"
            )
        return model

    def reference_path(self) -> Path | None:
        """The reference folder or file, or None when the default root is absent."""
        if self.reference is not None:
            return Path(self.reference)
        root = reference_root()
        return None if root is None else root / self.name

    def has_reference(self) -> bool:
        """Whether the reference draws can be read."""
        path = self.reference_path()
        return path is not None and (
            (path / "reference_draws.npz").is_file() if path.is_dir() else path.is_file()
        )

    def load_reference(self) -> ReferenceDraws:
        """Read the reference draws (see :func:`load_reference`)."""
        path = self.reference_path()
        if path is None or not path.exists():
            where = path if path is not None else f"${ENV_VAR} or ../shared/reference/posteriordb"
            raise FileNotFoundError(
                f"reference draws of posterior {self.name!r} not found ({where}); set "
                f"${ENV_VAR} to the folder holding posteriordb references"
            )
        return load_reference(path)


_POSTERIORS: dict[str, ReferencePosterior] = {}


def register_posterior(
    name: str,
    model_factory: Callable[..., Model],
    reference=None,
    *,
    description: str = "",
    aliases=(),
    overwrite: bool = False,
) -> ReferencePosterior:
    """Add a benchmark posterior: a model factory plus a reference-draws file.

    The name (and every alias) also becomes a model name of :func:`geobayes.models.get`, of
    ``geobayes.sample(name)`` and of the command line (``geobayes sample NAME``).

    Parameters
    ----------
    name : str
        New name.
    model_factory : callable
        ``model_factory(**kwargs) -> geobayes.Model``.
    reference : path-like, optional
        A posteriordb-style folder or an ``.npz`` file with ``draws`` (chains, draws, columns)
        and ``param_names`` (Stan-style column names matching the model's trace variables).
        ``None`` for built-ins found under :func:`reference_root`.
    description : str
        One line for ``geobayes models``.
    aliases : sequence of str
        Further names.
    overwrite : bool
        Replace an existing registration of the same name.

    Returns
    -------
    ReferencePosterior
    """
    from geobayes.models.registry import REGISTRY

    names = (name, *tuple(aliases))
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise TypeError(f"posterior names must be non-empty strings, got {n!r}")
        if not overwrite and (n in _POSTERIORS or n in REGISTRY):
            raise ValueError(
                f"{n!r} is already a registered model or posterior name; pick another name "
                "or pass overwrite=True"
            )
    if not callable(model_factory):
        raise TypeError(
            f"model_factory must be callable (returning a geobayes.Model), got "
            f"{type(model_factory).__name__}"
        )
    if reference is not None:
        if not isinstance(reference, (str, os.PathLike)):
            raise TypeError(f"reference must be a path, got {type(reference).__name__}")
        if not Path(reference).exists():
            raise ValueError(f"reference draws not found: {reference}")
    post = ReferencePosterior(name, model_factory, reference, description, tuple(aliases))
    for n in names:
        _POSTERIORS[n] = post
        REGISTRY[n] = (model_factory, description or f"benchmark posterior {name}")
    return post


def unregister_posterior(name: str) -> None:
    """Remove a posterior (and its aliases) registered by :func:`register_posterior`."""
    from geobayes.models.registry import REGISTRY

    post = get_posterior(name)
    for n in (post.name, *post.aliases):
        _POSTERIORS.pop(n, None)
        REGISTRY.pop(n, None)


def get_posterior(name: str) -> ReferencePosterior:
    """The registered posterior called ``name`` (or one of its aliases)."""
    if not isinstance(name, str):
        raise TypeError(f"posterior name must be a string, got {type(name).__name__}")
    if name not in _POSTERIORS:
        raise ValueError(f"unknown posterior {name!r}; registered: {', '.join(posteriors())}")
    return _POSTERIORS[name]


def posteriors(aliases: bool = False) -> list[str]:
    """Names of the registered posteriors (primary names only unless ``aliases``)."""
    return sorted(n for n, p in _POSTERIORS.items() if aliases or n == p.name)


def _register_builtins() -> None:
    from geobayes.models.eight_schools import eight_schools
    from geobayes.models.posteriordb import POSTERIORDB_MODELS

    builtins: Mapping[str, tuple] = {
        "eight_schools-eight_schools_noncentered": (
            eight_schools,
            ("eight_schools_noncentered", "eight_schools"),
        ),
        **{k: (f, (a,)) for k, (f, a) in POSTERIORDB_MODELS.items()},
    }
    for name, (factory, aliases) in builtins.items():
        post = ReferencePosterior(name, factory, None, "", tuple(aliases))
        for n in (name, *aliases):
            _POSTERIORS[n] = post


_register_builtins()
