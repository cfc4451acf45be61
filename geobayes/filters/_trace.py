"""Conversion of filter output to an ``xarray.DataTree`` (interface spec §4).

Groups (dims in brackets):

``filtered``        ``mean``, ``sd`` (time, state); Kalman filter also ``covariance``
                    (time, state, state_)
``predicted``       forecast ``mean``, ``sd`` (time, state)
``posterior``       with ``store="ensemble"`` only: ``ensemble`` (chain, draw, time,
                    state), ``draw`` = member; particle filters add ``log_weight``
                    (chain, draw, time) and the root attribute ``weighted = 1``
``observed_data``   ``y`` (time, obs); rows of NaN where no observation was made
``sample_stats``    ``spread``, ``spread_predicted`` (time); with the truth
                    ``rmse``, ``rmse_predicted``; particle filters ``ess``,
                    ``resampled``; ``log_evidence_increment`` where defined
``truth``           ``x`` (time, state) when given

Root attributes: ``created_at``, ``inference_library``,
``inference_library_version``, ``method``, ``settings`` (JSON), ``seed`` (the
entropy of the seed; with ``seed_spawn_key`` when the seed was a spawned
``SeedSequence``: ``SeedSequence(seed, spawn_key=...)`` repeats the run),
``filtering_time``, ``ssm``, ``n_cycles``, ``partial`` (1 if interrupted or
diverged), ``diverged`` (1 if the ensemble became non-finite), ``threads``,
``burn_in`` (cycles) and the DAPPER-style summaries ``rmse_mean`` (time mean of
per-cycle RMSE after burn-in), ``rmse_predicted_mean``, ``spread_mean`` and,
where defined, ``log_evidence``.  Booleans are stored as 0/1 integers so that
the tree writes to netCDF.
"""

from __future__ import annotations

import datetime as _dt
import json

import numpy as np
import xarray as xr

__all__ = ["build_tree", "summary_attrs"]


def summary_attrs(stats: dict, burn_in: int) -> dict:
    """Time means after ``burn_in`` cycles of the per-cycle statistics."""
    out = {"burn_in": int(burn_in)}
    for key in ("rmse", "rmse_predicted", "spread", "spread_predicted"):
        if key in stats:
            vals = np.asarray(stats[key])[burn_in:]
            out[f"{key}_mean"] = float(np.mean(vals)) if vals.size else float("nan")
    if "log_evidence_increment" in stats:
        out["log_evidence"] = float(np.sum(stats["log_evidence_increment"]))
    return out


def build_tree(
    *,
    times: np.ndarray,
    filtered: dict,
    predicted: dict,
    observations: np.ndarray,
    stats: dict,
    truth: np.ndarray | None,
    ensemble: dict | None,
    attrs: dict,
) -> xr.DataTree:
    """Assemble the groups; arrays in the dicts are ``(dims, values)`` pairs or arrays."""
    K = len(times)
    d = next(iter(filtered.values()))[1].shape[1]
    coords = {"time": np.asarray(times, float), "state": np.arange(d)}

    def ds(variables, extra_coords=None):
        c = dict(coords)
        if extra_coords:
            c.update(extra_coords)
        return xr.Dataset(
            {k: (dims, np.asarray(v)) for k, (dims, v) in variables.items()},
            coords={k: v for k, v in c.items() if any(k in dims for dims, _ in variables.values())},
        )

    children = {
        "filtered": ds(filtered, {"state_": np.arange(d)}),
        "predicted": ds(predicted),
        "observed_data": ds(
            {"y": (("time", "obs"), observations[:K])}, {"obs": np.arange(observations.shape[1])}
        ),
        "sample_stats": ds({k: (("time",), v) for k, v in stats.items()}),
    }
    if truth is not None:
        children["truth"] = ds({"x": (("time", "state"), truth[:K])})
    if ensemble is not None:
        n = next(iter(ensemble.values()))[1].shape[1]
        children["posterior"] = ds(ensemble, {"chain": np.arange(1), "draw": np.arange(n)})
    root_attrs = {
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(),
        "inference_library": "geobayes",
    }
    for k, v in attrs.items():
        if isinstance(v, bool):
            v = int(v)
        elif isinstance(v, dict):
            v = json.dumps(v, sort_keys=True, default=str)
        root_attrs[k] = v
    tree = xr.DataTree(dataset=xr.Dataset(attrs=root_attrs))
    for name, child in children.items():
        tree[name] = xr.DataTree(dataset=child)
    return tree
