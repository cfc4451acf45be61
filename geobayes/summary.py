"""Weight-aware summaries and resampling of traces.

:func:`summary` calls ``arviz.summary`` on ordinary traces and computes weighted
statistics (mean, sd, quantiles, Kish effective sample size) on weighted-particle
traces (see :mod:`geobayes.trace`), where ``arviz.summary`` would ignore the weights,
and on the equally weighted particles of SHK (a population, not a Markov chain: R-hat
and chain ESS do not apply; the Kish ESS is the particle count).
Filter and HGF traces (which have a ``filtered`` group instead of a ``posterior``) are
summarized per state component: final mean and sd, time-averaged spread and, with the
truth, RMSE; the run's RMSE, spread and evidence are in the table's ``attrs``.
:func:`resample` turns a weighted trace into an equally weighted one that any ArviZ
function accepts.

Signed weights (MSIP quadrature rules): weighted means are exact rule evaluations and are
reported; ``sd`` is reported when the rule's variance is positive (else NaN); quantiles are
not defined for a signed measure (its CDF is not monotone), so they are NaN and a
:class:`UserWarning` says so.  :func:`resample` refuses negative weights unless told
``negative="clip"`` (clip to zero and renormalize: an approximation, with a warning).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from geobayes.math.resampling import systematic_from_uniform
from geobayes.random import as_seed_sequence
from geobayes.trace import get_weights, is_weighted, root_attrs

__all__ = ["summary", "resample", "weighted_quantile"]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile of a weighted sample (inverse of the weighted empirical CDF, midpoint rule).

    With equal weights it matches ``numpy.quantile(values, q, method="hazen")``.
    """
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, v))


def _flat_weights(trace) -> np.ndarray:
    w = get_weights(trace)  # (chain, draw), normalized per chain, possibly signed
    return (w / w.shape[0]).ravel()  # replicates weighted equally


def summary(trace, var_names=None, **kwargs) -> pd.DataFrame:
    """Summary table of a trace; weight-aware for weighted-particle traces.

    For ordinary traces this is ``arviz.summary(trace, var_names=..., **kwargs)``.  For
    weighted traces the columns are ``mean``, ``sd``, ``q05``, ``q50``, ``q95`` (weighted)
    and ``ess_kish`` = ``1 / sum(w^2)`` of the pooled, normalized weights.  With signed
    weights the quantiles are NaN (with a warning) and ``sd`` is NaN where the rule's
    variance is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.trace import weighted_trace
    >>> t = weighted_trace(np.array([[[0.0], [1.0]]]), np.log([[0.25, 0.75]]))
    >>> summary(t)[["mean", "ess_kish"]].round(3)
          mean  ess_kish
    x[0]  0.75       1.6
    """
    if not hasattr(trace, "children"):
        raise TypeError(
            "summary needs a trace (an ArviZ DataTree from geobayes.sample, geobayes.filter "
            f"or a file read with xarray.open_datatree), got {type(trace).__name__}"
        )
    if "filtered" in trace.children and "posterior" not in trace.children:
        return _filter_summary(trace, var_names)
    if "posterior" not in trace.children:
        raise ValueError(
            "this trace has no posterior group (groups: "
            f"{', '.join(trace.children) or 'none'}); an interrupted run with no draws "
            "has nothing to summarize"
        )
    if var_names is not None:
        var_names = [var_names] if isinstance(var_names, str) else list(var_names)
        known = list(trace["posterior"].data_vars)
        unknown = [v for v in var_names if v not in known]
        if unknown:
            raise ValueError(
                f"unknown variable(s) {', '.join(unknown)}; the posterior has: {', '.join(known)}"
            )
    weighted = is_weighted(trace)
    if not weighted and "n_particles" not in trace.attrs:
        import arviz as az

        return az.summary(trace, var_names=var_names, **kwargs)
    if weighted:
        w = _flat_weights(trace)
    else:  # equally weighted particles (SHK): no Markov chain, so no R-hat or chain ESS
        post = trace["posterior"]
        n = post.sizes["chain"] * post.sizes["draw"]
        w = np.full(n, 1.0 / n)
    signed = bool(np.any(w < 0))
    if signed:
        import warnings

        warnings.warn(
            f"{int(np.sum(w < 0))} of the {w.size} weights are negative (a quadrature rule, "
            "not a probability measure): means are exact rule evaluations, but quantiles are "
            "not defined and are reported as NaN",
            UserWarning,
            stacklevel=2,
        )
    ess = 1.0 / np.sum(w * w)
    post = trace["posterior"]
    names = var_names or list(post.data_vars)
    rows, index = [], []
    for name in names:
        da = post[name]
        vals = da.values.reshape(w.size, -1)
        for k in range(vals.shape[1]):
            col = vals[:, k]
            mean = float(np.sum(w * col))
            var = float(np.sum(w * (col - mean) ** 2))
            sd = float(np.sqrt(var)) if var > 0 or not signed else np.nan
            if signed:
                qs = [np.nan] * 3
            else:
                qs = [weighted_quantile(col, w, q) for q in (0.05, 0.5, 0.95)]
            rows.append([mean, sd, *qs, ess])
            if vals.shape[1] == 1 and da.ndim == 2:
                index.append(name)
            else:
                idx = np.unravel_index(k, da.shape[2:])
                index.append(f"{name}[{','.join(str(i) for i in idx)}]")
    return pd.DataFrame(rows, index=index, columns=["mean", "sd", "q05", "q50", "q95", "ess_kish"])


def _filter_summary(trace, var_names=None) -> pd.DataFrame:
    """Per-component table of a filter or HGF trace (see the module docstring)."""
    f = trace["filtered"]
    mean, sd = f["mean"], f["sd"]
    comp = mean.dims[1]
    names = [str(v) for v in mean[comp].values]
    if var_names is not None:
        var_names = [var_names] if isinstance(var_names, str) else list(var_names)
        unknown = [v for v in var_names if v not in names]
        if unknown:
            raise ValueError(
                f"unknown {comp}(s) {', '.join(unknown)}; this trace has: {', '.join(names)}"
            )
    burn = int(trace.attrs.get("burn_in", 0))
    m, s = mean.values, sd.values
    cols = {"final_mean": m[-1], "final_sd": s[-1]}
    with np.errstate(invalid="ignore"):
        cols["mean_spread"] = np.nanmean(s[burn:], axis=0) if s.shape[0] > burn else s[-1]
        if "truth" in trace.children:
            err = (m - trace["truth"]["x"].values)[burn:]
            cols["rmse"] = np.sqrt(np.nanmean(err * err, axis=0))
    df = pd.DataFrame(cols, index=names)
    if var_names is not None:
        df = df.loc[var_names]
    df.attrs = {
        k: trace.attrs[k]
        for k in (
            "method",
            "update",
            "ssm",
            "n_cycles",
            "rmse_mean",
            "spread_mean",
            "log_evidence",
            "total_surprise",
            "burn_in",
        )
        if k in trace.attrs
    }
    return df


def resample(trace, n: int, seed=None, *, negative: str = "raise") -> xr.DataTree:
    """Equally weighted trace of ``n`` draws by systematic resampling of a weighted trace.

    The result has one chain of ``n`` draws, ``weighted = 0`` and the original method
    recorded in ``resampled_from``.  A rule with negative weights cannot be resampled
    exactly: ``negative="raise"`` (default) refuses it, ``negative="clip"`` sets negative
    weights to zero and renormalizes (an approximation; a warning gives the mass removed).

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.trace import weighted_trace
    >>> t = weighted_trace(np.array([[[0.0], [1.0]]]), np.log([[0.25, 0.75]]))
    >>> r = resample(t, 8, seed=0)
    >>> float(r.posterior["x"].mean())
    0.75
    """
    import arviz_base

    if not is_weighted(trace):
        raise ValueError(
            "resample needs a weighted trace (attrs['weighted'] true with "
            "sample_stats.log_weight); this trace is already equally weighted"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if negative not in ("raise", "clip"):
        raise ValueError(f"negative must be 'raise' or 'clip', got {negative!r}")
    w = _flat_weights(trace)
    if np.any(w < 0):
        neg = float(-w[w < 0].sum())
        if negative == "raise":
            raise ValueError(
                f"cannot resample: {int(np.sum(w < 0))} of the {w.size} weights are negative "
                f"(total negative mass {neg:.3g}; a quadrature rule, not a probability measure). "
                "Use geobayes.summary(trace) for weighted statistics, or "
                "resample(..., negative='clip') to drop the negative weights (approximate)"
            )
        import warnings

        warnings.warn(
            f"resample: clipped {int(np.sum(w < 0))} negative weights (mass {neg:.3g}) to zero",
            UserWarning,
            stacklevel=2,
        )
        w = np.clip(w, 0.0, None)
        w = w / w.sum()
    rng = np.random.default_rng(as_seed_sequence(seed))
    idx = systematic_from_uniform(np.ascontiguousarray(w), rng.random(), int(n))
    post = trace["posterior"]
    data = {}
    for name in post.data_vars:
        vals = post[name].values
        flat = vals.reshape(w.size, *vals.shape[2:])
        data[name] = flat[idx][None]
    attrs = root_attrs(
        "resample",
        trace.attrs.get("settings", "{}"),
        seed,
        weighted=0,
        resampled_from=str(trace.attrs.get("method", "")),
    )
    return arviz_base.from_dict({"posterior": data}, attrs={"/": attrs})
