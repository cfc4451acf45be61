"""Weight-aware summaries and resampling of traces.

:func:`summary` calls ``arviz.summary`` on ordinary traces and computes weighted
statistics (mean, sd, quantiles, Kish effective sample size) on weighted-particle
traces (see :mod:`geobayes.trace`), where ``arviz.summary`` would ignore the weights.
:func:`resample` turns a weighted trace into an equally weighted one that any ArviZ
function accepts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from geobayes.math.resampling import systematic_from_uniform
from geobayes.random import as_seed_sequence
from geobayes.trace import is_weighted, root_attrs

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
    lw = trace["sample_stats"]["log_weight"].values  # (chain, draw)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (w / w.shape[0]).ravel()  # replicates weighted equally


def summary(trace, var_names=None, **kwargs) -> pd.DataFrame:
    """Summary table of a trace; weight-aware for weighted-particle traces.

    For ordinary traces this is ``arviz.summary(trace, var_names=..., **kwargs)``.  For
    weighted traces the columns are ``mean``, ``sd``, ``q05``, ``q50``, ``q95`` (weighted)
    and ``ess_kish`` = ``1 / sum(w^2)`` of the pooled, normalized weights.

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.trace import weighted_trace
    >>> t = weighted_trace(np.array([[[0.0], [1.0]]]), np.log([[0.25, 0.75]]))
    >>> summary(t)[["mean", "ess_kish"]].round(3)
          mean  ess_kish
    x[0]  0.75       1.6
    """
    if not is_weighted(trace):
        import arviz as az

        return az.summary(trace, var_names=var_names, **kwargs)
    w = _flat_weights(trace)
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
            sd = float(np.sqrt(np.sum(w * (col - mean) ** 2)))
            rows.append(
                [mean, sd] + [weighted_quantile(col, w, q) for q in (0.05, 0.5, 0.95)] + [ess]
            )
            if vals.shape[1] == 1 and da.ndim == 2:
                index.append(name)
            else:
                idx = np.unravel_index(k, da.shape[2:])
                index.append(f"{name}[{','.join(str(i) for i in idx)}]")
    return pd.DataFrame(rows, index=index, columns=["mean", "sd", "q05", "q50", "q95", "ess_kish"])


def resample(trace, n: int, seed=None) -> xr.DataTree:
    """Equally weighted trace of ``n`` draws by systematic resampling of a weighted trace.

    The result has one chain of ``n`` draws, ``weighted = 0`` and the original method
    recorded in ``resampled_from``.

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
    w = _flat_weights(trace)
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
