"""Front function: validate, run the compiled loop, return a DataTree."""

from __future__ import annotations

import time

import numpy as np

from . import _kernels as K
from ._trace import HGFResult, to_datatree
from .network import Missing, Network, OnFailure, Prediction, Update, ValueUpdate

__all__ = ["run", "run_arrays", "prepare_observations"]


def prepare_observations(network: Network, observations, missing=Missing.ERROR) -> np.ndarray:
    """Return observations as a C-contiguous float64 ``(n_time, n_inputs)`` array.

    Raises ``ValueError`` for wrong shapes, infinite values, NaN (unless
    ``missing="skip"``) and non-binary values for a binary input.
    """
    missing = Missing.parse(missing)
    try:
        obs = np.asarray(observations, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"observations must be numeric, got {type(observations).__name__}") from exc
    n_in = len(network.input_names)
    if obs.ndim == 1 and n_in == 1:
        obs = obs[:, None]
    if obs.ndim != 2 or obs.shape[1] != n_in:
        raise ValueError(
            f"observations must have shape (n_time, {n_in}) for inputs "
            f"{network.input_names}, got {np.shape(observations)}"
        )
    if obs.shape[0] == 0:
        raise ValueError("observations are empty")
    if np.isinf(obs).any():
        k, i = np.argwhere(np.isinf(obs))[0]
        raise ValueError(f"observation {k} of input {network.input_names[i]!r} is infinite")
    nan = np.isnan(obs)
    if nan.any() and missing == Missing.ERROR:
        k, i = np.argwhere(nan)[0]
        raise ValueError(
            f"observation {k} of input {network.input_names[i]!r} is NaN; "
            "pass missing='skip' to treat NaN as a missing observation"
        )
    ins = [nd for nd in network.nodes if nd.kind != K.CONT]
    for i, nd in enumerate(ins):
        if nd.kind == K.INPUT_BIN:
            col = obs[:, i]
            bad = ~np.isnan(col) & (col != 0.0) & (col != 1.0)
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(
                    f"binary input {nd.name!r} needs values 0 or 1, got "
                    f"{float(col[k])!r} at step {k}"
                )
    return np.ascontiguousarray(obs)


def run_arrays(inet, npar, epar, gpar, obs, resp=None, store=True):
    """Call the kernel; return ``(mean, prec, emean, eprec, surprise, status, totals)``."""
    T, n = obs.shape[0], npar.shape[0]
    rows = T if store else 0
    out = [np.empty((rows, n)) for _ in range(4)]
    surp = np.empty(rows)
    status = np.zeros(4)
    if resp is None:
        resp = np.empty(0)
    totals = K.filter_core(
        inet,
        npar,
        epar,
        gpar,
        obs,
        resp,
        1 if store else 0,
        out[0],
        out[1],
        out[2],
        out[3],
        surp,
        status,
    )
    return (*out, surp, status, totals)


def run(
    network: Network,
    observations,
    update="robust",
    *,
    prediction="mean_field",
    value_update="canonical",
    on_failure="raise",
    missing="error",
    time_step: float = 1.0,
):
    """Run an HGF network over a series and return an ``xarray.DataTree``.

    Parameters
    ----------
    network : Network
        e.g. :func:`continuous_hgf` or :func:`binary_hgf`.
    observations : array_like of shape (n_time,) or (n_time, n_inputs)
    update : {"robust", "classic", "ehgf"} or Update
        Volatility-coupling update ("standard" and "unbounded" are accepted as pyhgf's names).
    prediction : {"mean_field", "pyhgf"} or Prediction
        ``pyhgf`` adds pyhgf 0.3's ``kappa^2 / (2 pi_hat_parent)`` to the predicted
        log-volatility (spec §2.1).
    value_update : {"canonical", "smoothed"} or ValueUpdate
    on_failure : {"raise", "nan"} or OnFailure
        A posterior precision at or below 1e-128 (classic update, large errors)
        raises ``ValueError`` naming the step and node, or (``"nan"``) becomes NaN
        from there on, as in pyhgf; the trace then records ``failed_step``/``failed_node``.
    missing : {"error", "skip"} or Missing
    time_step : float

    Returns
    -------
    xarray.DataTree
        Groups ``filtered`` (``mean``, ``precision``; dims ``(time, node)``),
        ``predicted`` (``mean``, ``precision``), ``sample_stats`` (``surprise`` per
        time, ``node_surprise`` per time and node, pyhgf's ``surprise_input`` and
        ``surprise_total``) and ``observed_data``; see :mod:`._trace`.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a geobayes HGF Network, got {type(network).__name__}")
    update = Update.parse(update)
    prediction = Prediction.parse(prediction)
    value_update = ValueUpdate.parse(value_update)
    on_failure = OnFailure.parse(on_failure)
    missing = Missing.parse(missing)
    network.validate()
    obs = prepare_observations(network, observations, missing)
    inet, npar, epar = network.compile(update, prediction, value_update, on_failure, missing)
    gpar = network.global_params(time_step)
    t0 = time.perf_counter()
    mean, prec, emean, eprec, surp, status, _ = run_arrays(inet, npar, epar, gpar, obs)
    elapsed = time.perf_counter() - t0
    code, step, node, value = int(status[0]), int(status[1]), int(status[2]), status[3]
    if code != K.OK and on_failure == OnFailure.RAISE:
        name = network.node_names[node]
        if code == K.FAIL_PRECISION:
            if update == Update.ROBUST or not value <= 0.0:
                # the robust update keeps precisions positive: only overflow gets here
                u_step = obs[step] if step < obs.shape[0] else np.nan
                raise ValueError(
                    f"{update.name.lower()} update: the posterior precision of node {name!r} "
                    f"at step {step} is {value:.6g} (not a finite positive number): the "
                    f"input there ({np.ravel(u_step)[0]:.6g}) is beyond what float64 "
                    "arithmetic of the update can hold; rescale the inputs, or pass "
                    "on_failure='nan' to continue with NaN"
                )
            raise ValueError(
                f"{update.name.lower()} update: non-positive posterior precision {value:.6g} "
                f"of node {name!r} at step {step}; use update='robust', or "
                "on_failure='nan' to continue with NaN as pyhgf does"
            )
        raise ValueError(
            f"predicted volatility of node {name!r} underflowed ({value:.3g}) at "
            f"step {step}; its volatility parent's mean ran away"
        )
    res = HGFResult(
        network=network,
        observations=obs,
        mean=mean,
        precision=prec,
        expected_mean=emean,
        expected_precision=eprec,
        surprise=surp,
        status=status,
        settings={
            "update": update.name.lower(),
            "prediction": prediction.name.lower(),
            "value_update": value_update.name.lower(),
            "on_failure": on_failure.name.lower(),
            "missing": missing.name.lower(),
            "time_step": float(time_step),
        },
        elapsed=elapsed,
    )
    return to_datatree(res)
