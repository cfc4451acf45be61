"""Predictions of sampled parameters at new inputs: ArviZ ``predictions`` and summaries.

For models with a ``predict(theta_batch, x_new)`` method (the MLP regression,
:class:`geobayes.models.mlp.MLPRegression`), traces already hold a
``posterior_predictive`` group with the outputs at the training inputs.  These helpers
evaluate every draw at new inputs:

* :func:`predict` returns the trace with a ``predictions`` group (ArviZ's group for
  out-of-sample predictions; dims ``(chain, draw, x_new_dim_0, y_dim_1)``) and the new
  inputs in ``predictions_constant_data``;
* :func:`predictive_mean` and :func:`predictive_interval` summarize the draws per input
  (the model average ``(1/M) sum_m f(x; theta_m)`` and equal-tailed quantiles).

Draws that a DIMS run flagged ``hit_T_max`` (not on the minimum set) are left out by
default (``only_converged=True``).

Examples
--------
>>> import numpy as np, geobayes
>>> from geobayes.models.mlp import mlp_regression
>>> x = np.linspace(-1, 1, 4)
>>> model = mlp_regression(x, np.sin(2 * x), hidden=(5,))
>>> trace = geobayes.sample(model, method="dims", draws=3, chains=2, seed=0,
...                         progress=False, friction=0.3, kinetic_energy=0.05,
...                         max_time=3000.0)
>>> mean = geobayes.predictive_mean(trace, model, np.array([0.0, 3.0]))
>>> mean.shape
(2, 1)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["predict", "predictive_draws", "predictive_mean", "predictive_interval"]


def _draws(trace, model, only_converged):
    post = trace["posterior"]
    names = list(model.params)
    missing = [n for n in names if n not in post]
    if missing:
        raise ValueError(
            f"the trace has no posterior variables {missing} of model {model.name!r}; "
            "pass the model the trace was sampled from"
        )
    chains = post.sizes["chain"]
    draws = post.sizes["draw"]
    parts = [np.asarray(post[n].values).reshape(chains, draws, -1) for n in names]
    theta = np.concatenate(parts, axis=-1)
    keep = np.ones((chains, draws), dtype=bool)
    if only_converged and "sample_stats" in trace.children:
        st = trace["sample_stats"]
        if "hit_T_max" in st:
            keep &= ~np.asarray(st["hit_T_max"].values, dtype=bool)
        if "diverging" in st:
            keep &= ~np.asarray(st["diverging"].values, dtype=bool)
    return theta, keep


def _check_model(model):
    if not hasattr(model, "predict"):
        raise TypeError(
            f"model {getattr(model, 'name', model)!r} has no predict(theta_batch, x_new) "
            "method; predictive helpers need a model such as geobayes.models.mlp_regression"
        )


def predictive_draws(trace, model, x_new, *, only_converged: bool = True) -> np.ndarray:
    """Outputs of every kept draw at ``x_new``: array ``(n_kept, m, n_outputs)``."""
    _check_model(model)
    theta, keep = _draws(trace, model, only_converged)
    flat = theta[keep]
    if flat.shape[0] == 0:
        raise ValueError("no converged draws to predict with (every draw hit_T_max or diverged)")
    return model.predict(flat, x_new)


def predict(trace, model, x_new, *, only_converged: bool = False) -> xr.DataTree:
    """Return a copy of ``trace`` with a ``predictions`` group at the inputs ``x_new``.

    Every draw is evaluated (flagged draws become NaN when ``only_converged``), so the
    group keeps the ``(chain, draw)`` layout of the posterior.
    """
    _check_model(model)
    theta, keep = _draws(trace, model, only_converged)
    chains, draws, dim = theta.shape
    out = model.predict(theta.reshape(-1, dim), x_new)
    out = out.reshape(chains, draws, *out.shape[1:])
    if only_converged:
        out[~keep] = np.nan
    x = np.asarray(x_new, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    new = trace.copy()
    new["predictions"] = xr.DataTree(
        xr.Dataset(
            {"y": (("chain", "draw", "x_new", "y_dim_0"), out)},
            coords={"chain": np.arange(chains), "draw": np.arange(draws)},
        )
    )
    new["predictions_constant_data"] = xr.DataTree(xr.Dataset({"x_new": (("x_new", "x_dim_0"), x)}))
    return new


def predictive_mean(trace, model, x_new, *, only_converged: bool = True) -> np.ndarray:
    """Model-averaged prediction ``(1/M) sum_m f(x_new; theta_m)``: array ``(m, n_outputs)``."""
    return predictive_draws(trace, model, x_new, only_converged=only_converged).mean(axis=0)


def predictive_interval(
    trace, model, x_new, prob: float = 0.9, *, only_converged: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``prob`` interval of the sampled predictions: ``(lower, upper)``, each
    ``(m, n_outputs)``.  This is the epistemic spread of the network function; add the
    observation noise for an interval of new observations."""
    if not (isinstance(prob, (int, float)) and 0 < prob < 1):
        raise ValueError(f"prob must be in (0, 1), got {prob!r}")
    p = predictive_draws(trace, model, x_new, only_converged=only_converged)
    lo, hi = np.quantile(p, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return lo, hi
