"""Metrics of one benchmark run against reference draws.

Every function takes draws as arrays of shape ``(chains, draws, k)`` (``k`` columns, the
reference's column order) and optional normalized log-weights of shape
``(chains, draws)`` for weighted-particle traces (see :mod:`geobayes.trace`): weighted
methods are evaluated through their weights (weighted moments, weighted energy
distance, Kish effective sample size), never as if the particles were equally weighted.

* :func:`standardized_errors` -- ``|mean - ref_mean| / ref_sd`` and ``sd / ref_sd`` per
  column;
* :func:`energy_distance` -- the (squared) energy distance of Székely & Rizzo between the
  run's and the reference draws, after scaling every column by the reference sd;
* :func:`ess` -- ArviZ's bulk and tail ESS (Vehtari et al. 2021) per column, or the Kish
  ESS of the pooled weights for weighted runs.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = rng.normal(size=(4, 1000, 2))
>>> shifted = ref + 0.5 * ref.std(axis=(0, 1), ddof=1)  # means off by half a ref sd
>>> err = standardized_errors(shifted, ref)
>>> np.round(err["mean_err"], 6).tolist(), np.round(err["sd_ratio"], 6).tolist()
([0.5, 0.5], [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "flat_weights",
    "standardized_errors",
    "energy_distance",
    "ess",
    "run_metrics",
]


def _as3(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (chains, draws, k), got {x.shape}")
    return x


def flat_weights(log_weight, shape, weights=None) -> np.ndarray | None:
    """Pooled normalized weights (sum 1) of shape ``(chains * draws,)``, or None.

    Each chain (replicate) is normalized on its own and the replicates count equally,
    as in :func:`geobayes.summary`.  ``weights`` (possibly signed, as MSIP's) are used
    as they are; otherwise ``log_weight``.
    """
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(shape[0], shape[1])
        w = w / w.sum(axis=1, keepdims=True)
        return (w / w.shape[0]).ravel()
    if log_weight is None:
        return None
    lw = np.asarray(log_weight, dtype=np.float64).reshape(shape[0], shape[1])
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return (w / w.shape[0]).ravel()


def _moments(x2, w):
    if w is None:
        mean = x2.mean(axis=0)
        sd = x2.std(axis=0, ddof=1) if x2.shape[0] > 1 else np.zeros(x2.shape[1])
    else:
        mean = w @ x2
        sd = np.sqrt(np.maximum(w @ (x2 - mean) ** 2, 0.0))  # signed weights may go below 0
    return mean, sd


def standardized_errors(draws, reference, log_weight=None, *, weights=None) -> dict:
    """Errors of posterior means and sds in units of the reference sd, per column.

    Returns ``mean_err = |mean - ref_mean| / ref_sd`` and ``sd_ratio = sd / ref_sd``
    (arrays of length ``k``), with ``max_mean_err`` and ``max_sd_err =
    max |sd_ratio - 1|`` as scalars.
    """
    x = _as3(draws, "draws")
    r = _as3(reference, "reference")
    if x.shape[2] != r.shape[2]:
        raise ValueError(f"draws have {x.shape[2]} columns, reference {r.shape[2]}")
    w = flat_weights(log_weight, x.shape, weights)
    mean, sd = _moments(x.reshape(-1, x.shape[2]), w)
    rmean, rsd = _moments(r.reshape(-1, r.shape[2]), None)
    rsd = np.where(rsd > 0, rsd, 1.0)
    mean_err = np.abs(mean - rmean) / rsd
    sd_ratio = sd / rsd
    return {
        "mean_err": mean_err,
        "sd_ratio": sd_ratio,
        "max_mean_err": float(np.max(mean_err)),
        "max_sd_err": float(np.max(np.abs(sd_ratio - 1.0))),
    }


def _mean_dist(a, b, wa, wb, block=2048):
    """sum_ij wa_i wb_j |a_i - b_j| in blocks (no n x m matrix in memory at once)."""
    total = 0.0
    for s in range(0, a.shape[0], block):
        aa = a[s : s + block]
        d2 = (aa * aa).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * aa @ b.T
        d = np.sqrt(np.maximum(d2, 0.0))
        total += wa[s : s + block] @ d @ wb
    return total


def energy_distance(
    draws, reference, log_weight=None, *, weights=None, max_points: int = 2000
) -> float:
    """Squared energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` after scaling by the ref sd.

    ``X`` are the run's draws (weighted by their weights when given), ``Y`` the
    reference draws; both are thinned to at most ``max_points`` points (evenly spaced;
    weighted draws by systematic resampling) so the cost stays bounded and the result
    is deterministic.  It is 0 for identical distributions and grows with
    any difference in location, scale or shape; for two point masses at distance ``d``
    it equals ``2 d``.  V-statistic form (the self-distances include ``i = j``).  Signed
    weights (a signed measure of total mass one) are used as they are, without thinning.
    """
    x = _as3(draws, "draws")
    r = _as3(reference, "reference")
    k = x.shape[2]
    w = flat_weights(log_weight, x.shape, weights)
    x2 = x.reshape(-1, k)
    r2 = r.reshape(-1, k)
    rsd = r2.std(axis=0, ddof=1) if r2.shape[0] > 1 else np.ones(k)
    rsd = np.where(rsd > 0, rsd, 1.0)
    x2, r2 = x2 / rsd, r2 / rsd

    def thin(a, wa):
        n = a.shape[0]
        if n <= max_points or (wa is not None and wa.min() < 0.0):
            return a, (np.full(n, 1.0 / n) if wa is None else wa)
        if wa is None:  # evenly spaced, the same for every call on the same array
            idx = (np.arange(max_points) * n) // max_points
            return a[idx], np.full(max_points, 1.0 / max_points)
        # weighted draws: systematic resampling keeps the weighted distribution
        cdf = np.cumsum(wa)
        u = (0.5 + np.arange(max_points)) / max_points
        j = np.minimum(np.searchsorted(cdf, u * cdf[-1]), n - 1)
        return a[j], np.full(max_points, 1.0 / max_points)

    xa, wx = thin(x2, w)
    ya, wy = thin(r2, None)
    exy = _mean_dist(xa, ya, wx, wy)
    exx = _mean_dist(xa, xa, wx, wx)
    eyy = _mean_dist(ya, ya, wy, wy)
    return float(max(2.0 * exy - exx - eyy, 0.0))


def ess(draws, log_weight=None, *, weights=None) -> dict:
    """Minimum bulk and tail ESS over columns (ArviZ), or the Kish ESS of weighted draws.

    For weighted runs ``ess_bulk = ess_tail = 1 / sum(w^2)`` of the pooled normalized
    weights (particles of one replicate are not a Markov chain; ArviZ's estimators do
    not apply).
    """
    x = _as3(draws, "draws")
    if log_weight is not None or weights is not None:
        w = flat_weights(log_weight, x.shape, weights)
        k = float(1.0 / np.sum(w * w))
        return {"ess_bulk": k, "ess_tail": k, "ess_kind": "kish"}
    if x.shape[1] < 4:
        return {"ess_bulk": float("nan"), "ess_tail": float("nan"), "ess_kind": "arviz"}
    import arviz_stats

    bulk = np.asarray(arviz_stats.ess(x, method="bulk", chain_axis=0, draw_axis=1))
    tail = np.asarray(
        arviz_stats.ess(x, method="tail", prob=(0.05, 0.95), chain_axis=0, draw_axis=1)
    )
    return {"ess_bulk": float(np.min(bulk)), "ess_tail": float(np.min(tail)), "ess_kind": "arviz"}


def run_metrics(
    draws, reference, log_weight=None, *, weights=None, wall_s=None, n_grad=None
) -> dict:
    """All accuracy and efficiency figures of one run as a flat JSON-ready dict.

    ``ess_bulk_per_s`` divides by ``wall_s`` (the sampling call, compilation excluded),
    ``ess_bulk_per_grad`` by ``n_grad``; either is omitted (None) when its cost is unknown.
    """
    err = standardized_errors(draws, reference, log_weight, weights=weights)
    e = ess(draws, log_weight, weights=weights)
    out = {
        "max_mean_err": err["max_mean_err"],
        "max_sd_err": err["max_sd_err"],
        "mean_err": err["mean_err"].tolist(),
        "sd_ratio": err["sd_ratio"].tolist(),
        "energy_distance": energy_distance(draws, reference, log_weight, weights=weights),
        **e,
    }
    for key in ("ess_bulk", "ess_tail"):
        out[f"{key}_per_s"] = e[key] / wall_s if wall_s else None
        out[f"{key}_per_grad"] = e[key] / n_grad if n_grad else None
    return out
