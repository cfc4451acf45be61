"""Checks a sampling run makes before any work: its memory, and the model's trace view.

:func:`check_run` evaluates the model's constrained view (``constrain``, ``dims``,
``coords``, pointwise log-likelihood) at one point and builds a one-draw trace from it,
so that an inconsistent model fails in milliseconds instead of after the sampling, and
it estimates the memory the whole run needs from the sizes it saw (draws, statistics,
constrained and derived quantities, pointwise log-likelihoods, and the copy the trace
makes) and refuses a run that cannot fit (:func:`geobayes._memory.require`).
"""

from __future__ import annotations

import numpy as np

from geobayes._memory import FLOAT, require

__all__ = ["check_run", "run_memory_bytes"]


def run_memory_bytes(
    *, chains: int, kept: int, dim: int, n_stats: int, n_constrained: int, n_loglik: int
) -> float:
    """Bytes of a run keeping ``kept`` iterations per chain (draws plus saved warmup)."""
    per_iteration = dim + n_stats + 2.0 * (n_constrained + n_loglik)  # the trace copies
    return FLOAT * float(chains) * float(kept) * per_iteration


def check_run(model, method, *, chains, draws, saved_warmup, log_likelihood, point=None):
    """Fail now, with one clear line, if the run's trace cannot be built or cannot fit.

    ``point`` is an unconstrained point to evaluate the model's view at (the model's
    own initial point rule by default; it need not be in the support for the shapes).
    """
    from geobayes.trace import build_trace

    dim = model.dim
    n_stats = len(getattr(method, "stat_names", ())) or 8
    # a cheap bound first: positions alone must fit before anything is evaluated
    require(
        run_memory_bytes(
            chains=chains,
            kept=draws + saved_warmup,
            dim=dim,
            n_stats=n_stats,
            n_constrained=0,
            n_loglik=0,
        ),
        f"sampling {chains} chains x {draws + saved_warmup} iterations of {dim} parameters",
        "reduce draws or chains (or thin: keep fewer draws)",
    )
    x = point if point is not None else model.initial_point(np.random.default_rng(0))
    x = np.ascontiguousarray(x, dtype=np.float64).reshape(1, 1, dim)
    try:
        view = model.constrain(x[0])
        n_constrained = int(sum(np.asarray(v).size for v in view.values()))
        ll = model.loglik(x[0]) if log_likelihood else None
        n_loglik = 0 if ll is None else int(np.asarray(ll).size)
        stats = {name: np.zeros((1, 1)) for name in getattr(method, "stat_names", ())}
        build_trace(
            model,
            method,
            x,
            stats,
            seed=0,
            sampling_time=0.0,
            partial=False,
            log_likelihood=log_likelihood,
        )
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"model {model.name!r}: its trace cannot be built (checked at the initial point, "
            f"before sampling): {msg}; check the model's constrain function, dims and coords"
        ) from None
    require(
        run_memory_bytes(
            chains=chains,
            kept=draws + saved_warmup,
            dim=dim,
            n_stats=n_stats,
            n_constrained=n_constrained,
            n_loglik=n_loglik,
        ),
        f"sampling {chains} chains x {draws + saved_warmup} iterations of model "
        f"{model.name!r} ({dim} parameters, {n_constrained} constrained values"
        + (f", {n_loglik} pointwise log-likelihoods" if n_loglik else "")
        + " per draw)",
        "reduce draws or chains" + (", or pass log_likelihood=False" if n_loglik > dim else ""),
    )
