"""Conversion of sampler output to ArviZ ``DataTree`` traces, and weighted particles.

Groups and names
----------------
``posterior`` holds the model's constrained (and derived) quantities with dims
``(chain, draw, *param_dims)``; ``sample_stats`` holds ``lp`` and the method's
statistics in ArviZ's vocabulary (``acceptance_rate``, ``step_size``, ``n_steps`` =
gradient evaluations of that draw, ``diverging``, ``energy``); with ``save_warmup``
the same appear as ``warmup_posterior``/``warmup_sample_stats``.  ``observed_data`` and
``log_likelihood`` are added when the model provides them.  Root attributes:
``created_at``, ``inference_library="geobayes"``, ``inference_library_version``,
``method``, ``settings`` (JSON), ``seed``, ``sampling_time``, ``n_gradient_evals``,
``partial`` (True when the run was interrupted).

Weighted particles
------------------
ArviZ has no convention for weighted draws, so geobayes defines one.  A particle
method's final ensemble is stored with ``chain`` = independent replicate and ``draw`` =
particle index, and the root attribute ``weighted`` is ``1``.  The weights live in
``sample_stats`` with dims ``(chain, draw)``:

* ``weight`` -- the normalized weights of each replicate (they sum to one over ``draw``).
  They **may be negative**: MSIP's weights are quadrature weights ``K^{-1} v0``, not
  probabilities.  The root attribute ``signed_weights`` is ``1`` when any is negative.
* ``log_weight`` -- ``log(weight)`` (``logsumexp`` over ``draw`` is 0), present only when
  every weight is non-negative (importance weights; the pre-MSIP convention).

Readers take ``weight`` when present, else ``exp(log_weight)`` (traces written before the
signed extension).  Per-iteration statistics of a particle method share
``sample_stats`` with dim ``(chain, iteration)``; with ``particle_history`` a group of
that name holds ``theta`` (unconstrained particles, dims ``(chain, iteration, particle,
theta_dim)``) and ``weight`` (``(chain, iteration, particle)``).

Weight-aware functions: :func:`geobayes.summary` (weighted mean/sd/quantiles and the
Kish ESS; with signed weights mean and sd only, quantiles refused with a warning) and
:func:`geobayes.resample` (equally weighted trace for any ArviZ function; refuses
negative weights unless ``negative="clip"``).

ArviZ functions ignore weights.  So that they never give an unweighted answer silently,
weighted traces are returned as :class:`WeightedDataTree`, a ``DataTree`` subclass that
emits a :class:`WeightedTraceWarning` whenever code in an ArviZ package reads its
``posterior`` group.  A trace read back from disk is a plain ``DataTree``; wrap it with
:func:`as_weighted` (or read it with :func:`load_trace`) to get the warning back.  The
marker is only the attributes, so a weighted trace is recognized after any round trip
(:func:`is_weighted`).  Unweighted traces have ``weighted = 0``.
"""

from __future__ import annotations

import datetime as _dt
import json

import arviz_base
import numpy as np
import xarray as xr

__all__ = [
    "build_trace",
    "build_particle_trace",
    "weighted_trace",
    "is_weighted",
    "get_weights",
    "as_weighted",
    "load_trace",
    "WeightedDataTree",
    "WeightedTraceWarning",
    "WEIGHT_CONVENTION",
]

#: Value of the root attribute ``weight_convention`` of weighted traces.
WEIGHT_CONVENTION = (
    "chain=replicate, draw=particle, sample_stats.weight normalized per chain (may be "
    "negative); sample_stats.log_weight = log(weight) when all weights are >= 0"
)

_BOOL_STATS = {"diverging", "is_accepted", "reached_max_treedepth", "hit_T_max"}
_INT_STATS = {
    "n_steps",
    "tree_depth",
    "n_evals",
    "n_backtracks",
    "n_negative_weights",
    "n_births",
    "n_deaths",
    "n_integration_steps",
    "n_rejected_steps",
}


def _stats_dict(stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, col in stats.items():
        if name in _BOOL_STATS:
            col = col.astype(bool)
        elif name in _INT_STATS:
            col = col.astype(np.int64)
        out[name] = col
    return out


def _constrained(model, positions: np.ndarray) -> dict[str, np.ndarray]:
    chains, draws, dim = positions.shape
    flat = model.constrain(positions.reshape(chains * draws, dim))
    return {k: np.asarray(v).reshape((chains, draws, *np.shape(v)[1:])) for k, v in flat.items()}


def root_attrs(method: str, settings: str, seed, **extra) -> dict:
    """The root attributes every geobayes trace carries."""
    from geobayes import __version__

    attrs = {
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "inference_library": "geobayes",
        "inference_library_version": __version__,
        "method": method,
        "settings": settings,
        "seed": str(seed),
    }
    attrs.update(extra)
    return attrs


def build_trace(
    model,
    method,
    positions: np.ndarray,
    stats: dict[str, np.ndarray],
    *,
    warmup_positions: np.ndarray | None = None,
    warmup_stats: dict[str, np.ndarray] | None = None,
    seed=None,
    sampling_time: float = 0.0,
    partial: bool = False,
    log_likelihood: bool = True,
    extra_attrs: dict | None = None,
) -> xr.DataTree:
    """Assemble the trace of an MCMC run.

    Parameters
    ----------
    model : geobayes.Model
    method : SamplerMethod
    positions : ndarray of shape (chains, draws, dim)
        Unconstrained draws.
    stats : dict of str to ndarray of shape (chains, draws)
        Sample statistics by name.
    warmup_positions, warmup_stats : optional
        Warmup draws and statistics, stored as ``warmup_posterior``/``warmup_sample_stats``.
    log_likelihood : bool
        Compute the ``log_likelihood`` group when the model has a pointwise log-likelihood.
    """
    data: dict[str, dict] = {}
    if positions.shape[1] > 0:
        data["posterior"] = _constrained(model, positions)
        data["sample_stats"] = _stats_dict(stats)
        ll = model.loglik(positions.reshape(-1, positions.shape[2])) if log_likelihood else None
        if isinstance(ll, dict):  # one variable per observed variable, event shapes kept
            data["log_likelihood"] = {
                k: v.reshape(positions.shape[:2] + v.shape[1:]) for k, v in ll.items()
            }
        elif ll is not None:
            data["log_likelihood"] = {
                model.loglik_name: ll.reshape(positions.shape[0], positions.shape[1], -1)
            }
        pp = getattr(model, "posterior_predictive", None)
        if pp is not None:  # models with predictions at their training inputs (MLP)
            chains, draws, dim = positions.shape
            data["posterior_predictive"] = {
                k: np.asarray(v).reshape(chains, draws, *np.shape(v)[1:])
                for k, v in pp(positions.reshape(-1, dim)).items()
            }
    if warmup_positions is not None and warmup_positions.shape[1] > 0:
        data["warmup_posterior"] = _constrained(model, warmup_positions)
        data["warmup_sample_stats"] = _stats_dict(warmup_stats)
    if model.observed_data:
        data["observed_data"] = {k: np.asarray(v) for k, v in model.observed_data.items()}
    if getattr(model, "constant_data", None):
        data["constant_data"] = {k: np.asarray(v) for k, v in model.constant_data.items()}
    attrs = root_attrs(
        method.name,
        method.settings_json(),
        seed,
        model=model.name,
        sampling_time=float(sampling_time),
        partial=int(bool(partial)),
        weighted=0,
    )
    if extra_attrs:
        attrs.update(extra_attrs)
    dims = dict(model.dims)
    if model.loglik_name in dims:
        dims.setdefault(model.loglik_name, dims[model.loglik_name])
    tree = arviz_base.from_dict(
        data,
        coords=model.coords or None,
        dims=dims or None,
        save_warmup=True,
        attrs={"/": attrs},
    )
    return tree


class WeightedTraceWarning(UserWarning):
    """An ArviZ function read the posterior of a weighted trace (it ignores the weights)."""


_WARNING = (
    "this trace holds weighted particles (sample_stats.weight{signed}); ArviZ ignores the "
    "weights, so this result treats the particles as equally weighted draws. Use "
    "geobayes.summary(trace) for weighted statistics, or geobayes.resample(trace, n) for "
    "an equally weighted trace."
)


def _warn_if_arviz(tree, depth: int) -> None:
    import sys
    import warnings

    frame = sys._getframe(depth)
    caller = frame.f_globals.get("__name__", "") if frame is not None else ""
    if caller.split(".")[0] in ("arviz", "arviz_base", "arviz_stats", "arviz_plots"):
        signed = ", some negative" if tree.attrs.get("signed_weights", 0) else ""
        warnings.warn(WeightedTraceWarning(_WARNING.format(signed=signed)), stacklevel=depth + 1)


class WeightedDataTree(xr.DataTree):
    """A ``DataTree`` of weighted particles that warns when ArviZ reads its posterior.

    Behaves exactly like ``xarray.DataTree``; the only difference is a
    :class:`WeightedTraceWarning` when code in ``arviz``/``arviz_base``/``arviz_stats``/
    ``arviz_plots`` accesses the ``posterior`` group (ArviZ functions ignore weights).
    """

    __slots__ = ()

    def __getattr__(self, name):
        if name == "posterior":
            _warn_if_arviz(self, 2)
        return super().__getattr__(name)

    def __getitem__(self, key):
        if key == "posterior":
            _warn_if_arviz(self, 2)
        return super().__getitem__(key)


def as_weighted(tree: xr.DataTree) -> xr.DataTree:
    """Return ``tree`` as a :class:`WeightedDataTree` when it is weighted, else unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> t = weighted_trace(np.zeros((1, 2, 1)), weights=np.array([[1.5, -0.5]]))
    >>> type(as_weighted(xr.DataTree(t.to_dataset()))).__name__
    'DataTree'
    >>> type(as_weighted(t)).__name__
    'WeightedDataTree'
    """
    if is_weighted(tree) and not isinstance(tree, WeightedDataTree):
        tree = tree.copy()
        tree.__class__ = WeightedDataTree
    return tree


def load_trace(path) -> xr.DataTree:
    """Read a trace written with ``to_netcdf`` (weighted traces come back warning-armed)."""
    return as_weighted(xr.load_datatree(path))


def _normalize_weights(log_weights, weights) -> tuple[np.ndarray, np.ndarray | None]:
    """Normalized ``(weight, log_weight or None)`` from one of the two inputs."""
    if (log_weights is None) == (weights is None):
        raise ValueError("give exactly one of log_weights (non-negative) or weights (signed)")
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.ndim != 2:
            raise ValueError(f"weights must have shape (replicates, n_particles), got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights must be finite")
        tot = w.sum(axis=1, keepdims=True)
        if np.any(tot <= 0):
            raise ValueError("the weights of every replicate must have a positive sum")
        w = w / tot
        if np.all(w >= 0):
            with np.errstate(divide="ignore"):
                return w, np.log(w)
        return w, None
    lw = np.asarray(log_weights, dtype=float)
    if lw.ndim != 2:
        raise ValueError(f"log_weights must have shape (replicates, n_particles), got {lw.shape}")
    if np.any(np.isnan(lw)) or np.any(lw == np.inf):
        raise ValueError("log_weights must not contain NaN or +inf")
    m = lw.max(axis=1, keepdims=True)
    if np.any(~np.isfinite(m)):
        raise ValueError("every replicate needs at least one particle with finite log-weight")
    lw = lw - (m + np.log(np.exp(lw - m).sum(axis=1, keepdims=True)))
    return np.exp(lw), lw


def weighted_trace(
    particles: dict[str, np.ndarray] | np.ndarray,
    log_weights: np.ndarray | None = None,
    *,
    weights: np.ndarray | None = None,
    method: str = "particles",
    settings: dict | None = None,
    seed=None,
    extra_stats: dict[str, np.ndarray] | None = None,
    coords=None,
    dims=None,
) -> xr.DataTree:
    """Build a weighted-particle trace (see the module docstring for the convention).

    Parameters
    ----------
    particles : dict of name -> ndarray (replicates, n_particles, ...) or one such array
        Particle values (one array is stored as ``x``).
    log_weights : ndarray of shape (replicates, n_particles), optional
        Unnormalized log-weights (non-negative weights); normalized per replicate.
    weights : ndarray of shape (replicates, n_particles), optional
        Signed weights (e.g. quadrature weights), normalized to sum one per replicate.
        Give exactly one of ``log_weights`` and ``weights``.

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.trace import weighted_trace
    >>> t = weighted_trace(np.zeros((1, 3, 2)), np.log([[0.2, 0.3, 0.5]]))
    >>> bool(t.attrs["weighted"]), t.sample_stats["weight"].values.round(2).tolist()
    (True, [[0.2, 0.3, 0.5]])
    >>> s = weighted_trace(np.zeros((1, 2, 1)), weights=[[3.0, -1.0]])
    >>> s.attrs["signed_weights"], "log_weight" in s.sample_stats
    (1, False)
    """
    if not isinstance(particles, dict):
        particles = {"x": np.asarray(particles, dtype=float)}
    w, lw = _normalize_weights(log_weights, weights)
    for name, arr in particles.items():
        if np.shape(arr)[:2] != w.shape:
            raise ValueError(
                f"particles[{name!r}] leads with {np.shape(arr)[:2]}, the weights have {w.shape}"
            )
    stats = {"weight": w}
    if lw is not None:
        stats["log_weight"] = lw
    if extra_stats:
        stats.update(extra_stats)
    attrs = root_attrs(
        method,
        json.dumps(settings or {}),
        seed,
        weighted=1,
        signed_weights=int(bool(np.any(w < 0))),
        weight_convention=WEIGHT_CONVENTION,
    )
    tree = arviz_base.from_dict(
        {"posterior": particles, "sample_stats": stats},
        coords=coords,
        dims=dims,
        attrs={"/": attrs},
    )
    return as_weighted(tree)


def build_particle_trace(
    model,
    method,
    positions: np.ndarray,
    weights: np.ndarray,
    iteration_stats: dict[str, np.ndarray],
    *,
    history: np.ndarray | None = None,
    weight_history: np.ndarray | None = None,
    seed=None,
    sampling_time: float = 0.0,
    partial: bool = False,
    log_likelihood: bool = True,
    extra_attrs: dict | None = None,
) -> xr.DataTree:
    """Assemble the trace of a particle method (see "Weighted particles" above).

    Parameters
    ----------
    positions : ndarray (replicates, n_particles, dim)
        Final unconstrained particles.
    weights : ndarray (replicates, n_particles)
        Their weights (sum one per replicate; may be negative).
    iteration_stats : dict of name -> ndarray (replicates, n_iterations)
        Per-iteration statistics, stored in ``sample_stats`` with dim ``iteration``.
    history, weight_history : optional ndarrays (replicates, n_iterations, n_particles[, dim])
        Every iteration's particles and weights (``particle_history`` group).
    """
    weighted = bool(method.weighted)
    data = {"posterior": _constrained(model, positions)}
    ll = None
    if log_likelihood and not weighted:
        ll = model.loglik(positions.reshape(-1, positions.shape[2]))
    if ll is not None:
        data["log_likelihood"] = {
            model.loglik_name: ll.reshape(positions.shape[0], positions.shape[1], -1)
        }
    if model.observed_data:
        data["observed_data"] = {k: np.asarray(v) for k, v in model.observed_data.items()}
    attrs = root_attrs(
        method.name,
        method.settings_json(),
        seed,
        model=model.name,
        sampling_time=float(sampling_time),
        partial=int(bool(partial)),
        weighted=int(weighted),
    )
    if weighted:
        attrs["signed_weights"] = int(bool(np.any(weights < 0)))
        attrs["weight_convention"] = WEIGHT_CONVENTION
    if extra_attrs:
        attrs.update(extra_attrs)
    dims = dict(model.dims)
    tree = arviz_base.from_dict(
        data, coords=model.coords or None, dims=dims or None, attrs={"/": attrs}
    )
    chains, n = weights.shape
    coords = {"chain": np.arange(chains), "draw": np.arange(n)}
    ss = {}
    if weighted:
        ss["weight"] = (("chain", "draw"), weights)
        if np.all(weights >= 0):
            with np.errstate(divide="ignore"):
                ss["log_weight"] = (("chain", "draw"), np.log(weights))
    for name, col in _stats_dict(iteration_stats).items():
        ss[name] = (("chain", "iteration"), col)
    n_it = next(iter(iteration_stats.values())).shape[1] if iteration_stats else 0
    coords["iteration"] = np.arange(n_it)
    tree["sample_stats"] = xr.DataTree(xr.Dataset(ss, coords=coords))
    if history is not None:
        ph = {
            "theta": (("chain", "iteration", "particle", "theta_dim"), history),
            "weight": (("chain", "iteration", "particle"), weight_history),
        }
        tree["particle_history"] = xr.DataTree(
            xr.Dataset(
                ph, coords={"chain": np.arange(chains), "iteration": np.arange(history.shape[1])}
            )
        )
    return as_weighted(tree) if weighted else tree


def is_weighted(trace) -> bool:
    """True when ``trace`` follows the weighted-particle convention."""
    w = trace.attrs.get("weighted", False)
    if not (bool(w) and "sample_stats" in trace.children):
        return False
    ss = trace["sample_stats"].data_vars
    return "weight" in ss or "log_weight" in ss


def get_weights(trace) -> np.ndarray:
    """Normalized (possibly signed) weights ``(chain, draw)`` of a particle trace.

    Equally weighted particles (no ``weight`` or ``log_weight`` in ``sample_stats``)
    get ``1 / n`` each.

    Examples
    --------
    >>> import numpy as np
    >>> t = weighted_trace(np.zeros((1, 2, 1)), np.log([[1.0, 3.0]]))
    >>> get_weights(t).round(12).tolist()
    [[0.25, 0.75]]
    """
    ss = trace["sample_stats"]
    if "weight" not in ss.data_vars and "log_weight" not in ss.data_vars:
        post = trace["posterior"]  # equally weighted particles (SHK)
        c, n = post.sizes["chain"], post.sizes["draw"]
        return np.full((c, n), 1.0 / n)
    if "weight" in ss.data_vars:
        w = np.asarray(ss["weight"].values, dtype=float)
        return w / w.sum(axis=1, keepdims=True)
    lw = np.asarray(ss["log_weight"].values, dtype=float)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)
