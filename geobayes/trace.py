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
particle index; ``sample_stats.log_weight`` holds the normalized log-weights of each
replicate's particles (``logsumexp`` over ``draw`` is 0) and the root attribute
``weighted`` is ``True``.  :func:`geobayes.summary` is weight-aware, and
:func:`geobayes.resample` returns an equally weighted trace for any ArviZ function.
Unweighted traces have ``weighted = False``.
"""

from __future__ import annotations

import datetime as _dt
import json

import arviz_base
import numpy as np
import xarray as xr

__all__ = ["build_trace", "weighted_trace", "is_weighted", "WEIGHT_CONVENTION"]

#: Value of the root attribute ``weight_convention`` of weighted traces.
WEIGHT_CONVENTION = "chain=replicate, draw=particle, sample_stats.log_weight normalized per chain"

_BOOL_STATS = {"diverging", "is_accepted", "reached_max_treedepth", "hit_T_max"}
_INT_STATS = {"n_steps", "tree_depth", "n_integration_steps", "n_rejected_steps"}


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


def weighted_trace(
    particles: dict[str, np.ndarray] | np.ndarray,
    log_weights: np.ndarray,
    *,
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
    log_weights : ndarray of shape (replicates, n_particles)
        Unnormalized log-weights; they are normalized per replicate.

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.trace import weighted_trace
    >>> t = weighted_trace(np.zeros((1, 3, 2)), np.log([[0.2, 0.3, 0.5]]))
    >>> bool(t.attrs["weighted"])
    True
    """
    if not isinstance(particles, dict):
        particles = {"x": np.asarray(particles, dtype=float)}
    lw = np.asarray(log_weights, dtype=float)
    if lw.ndim != 2:
        raise ValueError(f"log_weights must have shape (replicates, n_particles), got {lw.shape}")
    for name, arr in particles.items():
        if np.shape(arr)[:2] != lw.shape:
            raise ValueError(
                f"particles[{name!r}] leads with {np.shape(arr)[:2]}, log_weights has {lw.shape}"
            )
    if np.any(np.isnan(lw)) or np.any(lw == np.inf):
        raise ValueError("log_weights must not contain NaN or +inf")
    m = lw.max(axis=1, keepdims=True)
    if np.any(~np.isfinite(m)):
        raise ValueError("every replicate needs at least one particle with finite log-weight")
    lw = lw - (m + np.log(np.exp(lw - m).sum(axis=1, keepdims=True)))
    stats = {"log_weight": lw}
    if extra_stats:
        stats.update(extra_stats)
    attrs = root_attrs(
        method,
        json.dumps(settings or {}),
        seed,
        weighted=1,
        weight_convention=WEIGHT_CONVENTION,
    )
    return arviz_base.from_dict(
        {"posterior": particles, "sample_stats": stats},
        coords=coords,
        dims=dims,
        attrs={"/": attrs},
    )


def is_weighted(trace) -> bool:
    """True when ``trace`` follows the weighted-particle convention."""
    w = trace.attrs.get("weighted", False)
    return (
        bool(w)
        and "sample_stats" in trace.children
        and ("log_weight" in trace["sample_stats"].data_vars)
    )
