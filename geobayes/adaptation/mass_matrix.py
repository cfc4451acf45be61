"""Windowed diagonal mass-matrix adaptation, as Stan does it.

Warmup of ``W`` iterations is split into a fast initial buffer (75 iterations), slow
windows that double in length starting at 25, and a fast terminal buffer (50); when
``75 + 25 + 50 > W`` the split is 15 % / 75 % / 10 % (Stan's rule).  Positions are
accumulated (Welford) during each slow window; at its end the inverse mass matrix
becomes the regularized variance ``n/(n+5) var + 1e-3 * 5/(n+5)`` and the step size
adaptation restarts.  Options (``SamplerMethod.step_size_adaptation`` and
``metric_adaptation``): restart dual averaging only after the first window, the
diagonal metric ``sqrt(var(x) / var(grad))`` of draws and gradients (nutpie's), short
early windows, and a divergence guard that returns a chain to Stan's scheme (NUTS's
default ``"auto"`` combines them).

The schedule is an int64 array of per-iteration flags (see ``ADAPT_*``) that the
jitted chunk runner reads, so the loop needs no Python.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geobayes.math.linalg import cholesky_into

__all__ = [
    "warmup_schedule",
    "ADAPT_STEP",
    "ADAPT_ACCUMULATE",
    "ADAPT_WINDOW_END",
    "ADAPT_RESTART",
    "ADAPT_GRAD",
    "ADAPT_RESTART_AVERAGE",
    "ADAPT_GUARD_COUNT",
    "ADAPT_GUARD_DECIDE",
    "ADAPT_FREEZE",
    "ADAPT_FALLBACK_ONLY",
    "ADAPT_SEARCH",
    "ADAPT_UNIFORM_AVERAGE",
    "ADAPT_SYM",
    "GUARD_DIVERGENCES",
    "welford_update",
    "welford_variance",
    "welford_grad_update",
    "welford_grad_metric",
    "welford_grad_metric_keep",
    "welford_cov_update",
    "welford_covariance",
]

ADAPT_STEP = 1  #: adapt the step size at this iteration
ADAPT_ACCUMULATE = 2  #: add this iteration's position to the window's statistics
ADAPT_WINDOW_END = 4  #: the slow window ends here: update the metric
ADAPT_RESTART = 8  #: restart dual averaging here (Stan: at every window end)
ADAPT_GRAD = 16  #: diagonal metric from draws and gradients (accumulate both; see below)
ADAPT_RESTART_AVERAGE = 32  #: restart only the dual-averaging average here
ADAPT_GUARD_COUNT = 64  #: count a divergence here towards the divergence guard
ADAPT_GUARD_DECIDE = 128  #: the guard decides here (before this iteration's window end)
ADAPT_FREEZE = 256  #: a chain not switched to Stan's scheme freezes its metric here
ADAPT_FALLBACK_ONLY = 512  #: this window end and average restart apply only to switched chains
ADAPT_SEARCH = 1024  #: search a step size for the new metric and restart dual averaging there
ADAPT_UNIFORM_AVERAGE = 2048  #: the final step size averages the iterates from here uniformly
ADAPT_SYM = 4096  #: dual averaging reads the step's symmetric acceptance statistic (last column)
#: divergences in the guard's span (800 iterations of a 1000-iteration warmup) that
#: switch a chain to Stan's scheme
GUARD_DIVERGENCES = 2


def warmup_schedule(
    warmup: int,
    adapt_step_size: bool,
    adapt_mass_matrix: bool,
    restart: str = "windows",
    grad: bool = False,
    guard: bool = False,
    early: int = 0,
    final: float = 0.0,
    search: bool = False,
    final_average: str = "restart",
    sym: int = 0,
) -> np.ndarray:
    """Per-iteration adaptation flags for ``warmup`` iterations.

    ``restart`` says where dual averaging restarts: ``"windows"`` at the end of every
    slow window (Stan), ``"first"`` only at the end of the first one (one dual averaging
    over the rest of the warmup, as nutpie's nuts-rs and PyMC) while at the later window
    ends only its average restarts (``ADAPT_RESTART_AVERAGE``), so that the final step
    size averages the iterates made with the final metric.  ``grad`` marks the
    accumulating iterations with ``ADAPT_GRAD`` (diagonal metric from draws and
    gradients, :func:`welford_grad_metric`).

    ``guard`` (with ``restart="first"``) adds the divergence guard of the default
    adaptation: divergences after the second slow window's end, through the last one's,
    are counted (``ADAPT_GUARD_COUNT``), and at the last window's end
    (``ADAPT_GUARD_DECIDE``) a chain with at least :data:`GUARD_DIVERGENCES` of them
    switches to Stan's scheme: that window's metric is the regularized variance of its
    draws and dual averaging restarts there, whatever the ``ADAPT_GRAD`` and
    ``ADAPT_RESTART_AVERAGE`` flags say, so the chain ends its warmup exactly as Stan's
    (final metric from the last window's draws, final step size from a dual averaging
    over the terminal buffer).  The first restart's transient (up to the second window's
    end) is not counted.  With fewer than three slow windows (a warmup of less than 300
    iterations) there is no span to watch, and the schedule is Stan's
    (``restart="windows"``, no ``grad``).

    ``early`` (> 0, with ``restart="first"``) splits Stan's initial fast buffer into short
    metric windows of ``early`` iterations (the last one takes the remainder), as nutpie
    re-estimates its metric from the last 10-20 draws in its early phase: the chain
    leaves the identity metric after ``early`` iterations instead of 100, where a badly
    scaled posterior costs deep trees.  The guard's span is unchanged (it starts after
    the second of Stan's windows).

    ``final`` (a fraction of the warmup, with ``guard`` and ``grad``) is nutpie's final
    step-size window: a chain the guard did not switch freezes its metric (from the last
    window's draws and gradients so far) ``round(final * warmup)`` iterations before the
    warmup ends (``ADAPT_FREEZE``) and its final step size averages the dual-averaging
    iterates from there on, instead of the terminal buffer's 50 only; the last window's
    end (``ADAPT_FALLBACK_ONLY``) then updates only the switched chains, which end their
    warmup as Stan's.  It applies only when that window is longer than the terminal
    buffer and starts inside the last slow window.  ``final_average`` says how that
    final step size averages the window's iterates: ``"restart"`` restarts the average
    at the freeze (its weights ``n^-kappa`` then leave about the last 40 iterates of 150
    in it), ``"uniform"`` (the default adaptation) restarts it and weighs every later
    iterate alike (``ADAPT_UNIFORM_AVERAGE`` sets kappa to 1), ``"continuous"`` never
    restarts it after the first window (nutpie: about the last 180 iterates, those
    before the freeze included).

    ``search`` (with ``restart="first"``) marks the first window end with
    ``ADAPT_SEARCH``: the runner searches a step size for the new metric (nutpie's
    re-initialisation after its first metric change,
    :func:`geobayes.samplers._chunk.search_step_size`) and restarts dual averaging
    around it, instead of around the step tuned for the initial metric.  ``sym`` (> 0,
    with a final window) marks the iterations from ``sym`` before the final window to the
    warmup's end with ``ADAPT_SYM``: dual averaging there reads the step's symmetric
    acceptance statistic (nutpie's ``mean_tree_accept_sym``), whose target 0.8 asks for
    a slightly larger step than the Metropolis one's.

    Examples
    --------
    >>> from geobayes.adaptation import warmup_schedule
    >>> f = warmup_schedule(1000, True, True)
    >>> [int(i) for i in np.flatnonzero(f & 4)]
    [99, 149, 249, 449, 949]
    >>> [int(i) for i in np.flatnonzero(warmup_schedule(1000, True, True, "first") & 8)]
    [99]
    """
    if restart not in ("windows", "first"):
        raise ValueError(f"restart must be 'windows' or 'first', got {restart!r}")
    if guard and restart != "first":
        raise ValueError("guard needs restart='first' (it falls back to Stan's restarts)")
    flags = np.zeros(warmup, dtype=np.int64)
    if adapt_step_size:
        flags |= ADAPT_STEP
    if not adapt_mass_matrix or warmup < 20:
        return flags
    init_buffer, term_buffer, base = 75, 50, 25
    if init_buffer + base + term_buffer > warmup:
        init_buffer = int(0.15 * warmup)
        term_buffer = int(0.1 * warmup)
        base = warmup - init_buffer - term_buffer
    end_slow = warmup - term_buffer
    start, size = init_buffer, base
    while start < end_slow:
        stop = start + size
        # stretch the last window when the next one would not fit
        if stop + 2 * size > end_slow:
            stop = end_slow
        flags[start:stop] |= ADAPT_ACCUMULATE
        flags[stop - 1] |= ADAPT_WINDOW_END
        start, size = stop, 2 * size
    ends = np.flatnonzero(flags & ADAPT_WINDOW_END)
    if guard and ends.size < 3:  # no span to watch: Stan's scheme
        restart, grad, guard, early = "windows", False, False, 0
    if guard:
        flags[ends[1] + 1 : ends[-1] + 1] |= ADAPT_GUARD_COUNT
        flags[ends[-1]] |= ADAPT_GUARD_DECIDE
    if early > 0 and restart == "first" and init_buffer >= 2 * early:
        stops = [*range(early, init_buffer - early + 1, early), init_buffer]
        flags[:init_buffer] |= ADAPT_ACCUMULATE
        flags[np.array(stops) - 1] |= ADAPT_WINDOW_END
        ends = np.flatnonzero(flags & ADAPT_WINDOW_END)
    if grad:
        flags[(flags & ADAPT_ACCUMULATE) != 0] |= ADAPT_GRAD
    n_final = int(round(final * warmup))
    if final_average not in ("restart", "continuous", "uniform"):
        raise ValueError(
            f"final_average must be 'restart', 'continuous' or 'uniform', got {final_average!r}"
        )
    frozen = None
    if guard and grad and n_final > term_buffer and warmup - n_final - 1 > ends[-2]:
        frozen = warmup - n_final - 1
        flags[frozen] |= ADAPT_FREEZE
        flags[ends[-1]] |= ADAPT_FALLBACK_ONLY
    if restart == "windows":
        flags[ends] |= ADAPT_RESTART
    elif restart == "first" and ends.size:
        flags[ends[0]] |= ADAPT_RESTART
        if search:
            flags[ends[0]] |= ADAPT_SEARCH
        if frozen is not None and final_average == "continuous":
            flags[ends[-1]] |= ADAPT_RESTART_AVERAGE  # the switched chains' restart only
        else:
            flags[ends[1:]] |= ADAPT_RESTART_AVERAGE
        if frozen is not None and final_average != "continuous":
            flags[frozen] |= ADAPT_RESTART_AVERAGE
            if final_average == "uniform":
                flags[frozen] |= ADAPT_UNIFORM_AVERAGE
    if frozen is not None and sym > 0 and adapt_step_size:
        flags[max(frozen - sym + 1, 0) :] |= ADAPT_SYM
    return flags


@njit(cache=True, nogil=True)
def _welford_add(w, off, x, n):
    """Welford step of ``x`` into ``w[off:off + d]`` (mean) and ``w[off + d:off + 2d]`` (m2)."""
    d = x.shape[0]
    for i in range(d):
        delta = x[i] - w[off + i]
        w[off + i] += delta / n
        w[off + d + i] += delta * (x[i] - w[off + i])


@njit(cache=True)
def welford_update(w, x):
    """Add ``x`` to Welford statistics ``w = [n, mean (d), m2 (d)]`` (one flat array)."""
    w[0] += 1.0
    _welford_add(w, 1, x, w[0])


@njit(cache=True)
def welford_variance(w, out):
    """Write Stan's regularized variance of the window into ``out`` and reset ``w``."""
    d = out.shape[0]
    n = w[0]
    if n >= 3.0:
        for i in range(d):
            var = w[1 + d + i] / (n - 1.0)
            out[i] = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))
    w[:] = 0.0


@njit(cache=True, nogil=True)
def welford_grad_update(w, x, g):
    """Add a draw ``x`` and its gradient ``g`` to ``w = [n, mean x, m2 x, mean g, m2 g]``."""
    w[0] += 1.0
    _welford_add(w, 1, x, w[0])
    _welford_add(w, 1 + 2 * x.shape[0], g, w[0])


@njit(cache=True, nogil=True)
def welford_grad_metric(w, metric):
    """The diagonal metric ``sqrt(diag(M^-1))`` with ``M^-1 = sqrt(var(x) / var(grad))``
    (nutpie's estimator; exact for a Gaussian with diagonal covariance, and between the
    draw- and gradient-based scales otherwise); resets ``w``.  A coordinate whose draw or
    gradient variance is not positive and finite keeps its metric."""
    welford_grad_metric_keep(w, metric)
    w[:] = 0.0


@njit(cache=True, nogil=True)
def welford_grad_metric_keep(w, metric):
    """:func:`welford_grad_metric` without resetting ``w`` (the window runs on)."""
    d = metric.shape[0]
    if w[0] >= 3.0:
        for i in range(d):
            vx = w[1 + d + i]
            vg = w[1 + 3 * d + i]
            if vx > 0.0 and vg > 0.0 and math.isfinite(vx) and math.isfinite(vg):
                r = math.sqrt(math.sqrt(vx / vg))  # (var x / var g)^(1/4)
                if 1e-10 < r < 1e10:
                    metric[i] = r


@njit(cache=True, nogil=True)
def welford_cov_update(w, x):
    """Add ``x`` to full-covariance Welford statistics ``w = [n, mean (d), m2 (d*d)]``."""
    d = x.shape[0]
    w[0] += 1.0
    n = w[0]
    delta = np.empty(d)
    for i in range(d):
        delta[i] = x[i] - w[1 + i]
        w[1 + i] += delta[i] / n
    for i in range(d):
        di = x[i] - w[1 + i]  # (x - new mean)
        for j in range(d):
            w[1 + d + i * d + j] += delta[j] * di


@njit(cache=True, nogil=True)
def welford_covariance(w, out):
    """Stan's regularized covariance of the window, ``n/(n+5) cov + 1e-3 * 5/(n+5) I``,
    as a dense metric ``[sqrt(diag), Cholesky factor row-major]`` into ``out``; resets
    ``w``.  Keeps ``out`` unchanged (and returns False) if the factorization fails."""
    d = int(round((math.sqrt(1.0 + 4.0 * (w.shape[0] - 1)) - 1.0) / 2.0))
    n = w[0]
    ok = True
    if n >= 3.0:
        a = np.empty((d, d))
        for i in range(d):
            for j in range(d):
                a[i, j] = (n / (n + 5.0)) * w[1 + d + i * d + j] / (n - 1.0)
            a[i, i] += 1e-3 * (5.0 / (n + 5.0))
        new = np.empty(d + d * d)
        ok = cholesky_into(a, new, d)
        if ok:
            for i in range(d):
                new[i] = math.sqrt(a[i, i])
            out[:] = new
    w[:] = 0.0
    return ok
