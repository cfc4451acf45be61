r"""The No-U-Turn Sampler with multinomial sampling, as Stan does it.

One transition (Hoffman & Gelman 2014; Betancourt 2017, appendix A; Stan's
``base_nuts.hpp``):

* draw a momentum :math:`v \sim N(0, I)` (whitened: :math:`p = S^{-T} v` with
  :math:`M^{-1} = S S^T`, see :mod:`geobayes.samplers._integrators`) and set
  :math:`H_0 = -\log\pi(x) + |v|^2/2`;
* repeatedly double the trajectory in a uniformly random direction: the new subtree of
  depth ``j`` (``2^j`` leapfrog steps) is built leaf by leaf; within it, states are
  chosen *uniformly* in proportion to their weights :math:`e^{H_0 - H}` (multinomial:
  at every merge of two sibling subtrees the right one's proposal replaces the left's
  with probability :math:`w_R / (w_L + w_R)`); across doublings the proposal of the
  new subtree replaces the current sample with probability
  :math:`\min(1, w_{new} / w_{old})` (*biased progressive sampling*);
* a (sub)tree stops with the generalized U-turn criterion
  :math:`p^\sharp_- \cdot \rho > 0 \wedge p^\sharp_+ \cdot \rho > 0`, with
  :math:`\rho` the summed momentum and :math:`p^\sharp = M^{-1} p`, checked on every
  merged subtree *and*, as Stan does since 2.21, on the two extended sets "left subtree
  plus the first state of the right one" and "right subtree plus the last state of the
  left one" (Stan PR #2800);
* a leaf whose energy error :math:`H - H_0` exceeds 1000, or whose log density or
  gradient is not finite, is a divergence: the subtree is discarded and the transition
  ends (counted in ``diverging``, never an exception);
* at most ``max_tree_depth`` doublings (``reached_max_treedepth`` flags the cap).

The acceptance statistic for dual averaging is Stan's: the mean over every leapfrog
step of the transition of :math:`\min(1, e^{H_0 - H})`.  In whitened coordinates
:math:`p^\sharp \cdot \rho = v \cdot \sum v`, so diagonal and dense metrics share the
code and the criterion needs no matrix products.

The recursion of Stan's ``build_tree`` is run iteratively, leaf by leaf, with one
pending left sibling per level; merges happen in the same order as the recursion and
draw the same uniforms, so the transition is identical to a recursive implementation
fed the same random numbers (``tests/reference/samplers_ref.py`` holds one; the test
suite compares trees, positions and statistics).

Random numbers drawn from the chain's generator, in order: ``d`` standard normals
(momentum); per doubling one uniform (direction: forward when ``u > 0.5``), then the
uniforms of the merges inside the new subtree (one per merge, post-order), then one
uniform for the progressive sample unless the new subtree's weight exceeds the old
trajectory's.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("eight_schools", method="nuts", draws=200, warmup=300,
...                         chains=2, seed=1, progress=False)
>>> sorted(trace.sample_stats.data_vars)  # doctest: +NORMALIZE_WHITESPACE
['acceptance_rate', 'diverging', 'energy', 'lp', 'n_steps', 'reached_max_treedepth',
 'step_size', 'tree_depth']
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from geobayes._lazy import lazy_njit
from geobayes.samplers._chunk import STEP_SIG
from geobayes.samplers._integrators import (
    BAD_GRADIENT,
    DIVERGENT,
    NONFINITE,
    drift,
    eval_status,
    kick,
)
from geobayes.samplers.base import SamplerMethod

__all__ = ["NUTS", "nuts_step"]

_MAX_DEPTH_LIMIT = 30  # 2^30 leapfrog steps per transition is already absurd

# workspace rows (each of length d)
_X, _G, _V = 0, 1, 2  # leapfrog state (moving end)
_XF, _GF, _VF = 3, 4, 5  # forward end of the trajectory
_XB, _GB, _VB = 6, 7, 8  # backward end
_XS, _GS = 9, 10  # current sample
_PFF, _PFB, _PBF, _PBB = 11, 12, 13, 14  # momenta at the ends of the two subtrees
_RHO, _RHOF, _RHOB = 15, 16, 17  # summed momenta: trajectory, forward, backward part
_CPX, _CPG, _CBEG, _CEND, _CRHO = 18, 19, 20, 21, 22  # the node just completed
_NFIXED = 23
_NLEVEL = 5  # per pending level: proposal x, proposal g, p_beg, p_end, rho


@njit(cache=True, inline="always")
def _logaddexp(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


@njit(cache=True, inline="always")
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True, inline="always")
def _dot_sum(a, r, c):
    """``a . (r + c)``."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * (r[i] + c[i])
    return s


@njit(cache=True, inline="always")
def _criterion(p_minus, p_plus, rho):
    return _dot(p_plus, rho) > 0.0 and _dot(p_minus, rho) > 0.0


@njit(cache=True, inline="always")
def _criterion_ext(p_minus, p_plus, rho, extra):
    """The criterion on ``rho + extra`` (Stan's ``rho_extended``)."""
    return _dot_sum(p_plus, rho, extra) > 0.0 and _dot_sum(p_minus, rho, extra) > 0.0


@lazy_njit(STEP_SIG, cache=True, nogil=True)
def nuts_step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
    """One multinomial NUTS transition; ``params = [max_tree_depth, max_energy_error]``.

    Statistics written: acceptance rate (Stan's mean Metropolis probability over the
    trajectory), ``n_steps`` (leapfrog steps = gradients), ``diverging``, ``energy``
    (Hamiltonian of the returned state), then extra columns ``tree_depth`` and
    ``reached_max_treedepth``.
    """
    d = x.shape[0]
    max_depth = int(params[0])
    max_dh = params[1]
    ws = np.empty((_NFIXED + _NLEVEL * max_depth, d))
    v0 = rng.standard_normal(d)
    h0 = -lp + 0.5 * _dot(v0, v0)
    for r in (_XF, _XB, _XS):
        ws[r] = x
    for r in (_GF, _GB, _GS):
        ws[r] = g
    for r in (_VF, _VB, _PFF, _PFB, _PBF, _PBB, _RHO):
        ws[r] = v0
    lp_f = lp
    lp_b = lp
    lp_s = lp
    h_s = h0
    log_sum_weight = 0.0
    n_leap = 0
    sum_metro = 0.0
    depth = 0
    divergent = False
    nonfinite = False  # a NaN / +inf log density met (reported apart from divergences)
    # per-level pending left siblings: log weight, proposal's lp and energy
    p_lsw = np.empty(max_depth)
    p_lp = np.empty(max_depth)
    p_h = np.empty(max_depth)
    xw = ws[_X]
    gw = ws[_G]
    vw = ws[_V]
    while depth < max_depth:
        forward = rng.random() > 0.5
        if forward:
            xw[:] = ws[_XF]
            gw[:] = ws[_GF]
            vw[:] = ws[_VF]
            lpw = lp_f
            ws[_RHOB] = ws[_RHO]
            ws[_PBF] = ws[_PFB]  # as Stan: p_bck_fwd = p_fwd_bck
            sign = 1.0
        else:
            xw[:] = ws[_XB]
            gw[:] = ws[_GB]
            vw[:] = ws[_VB]
            lpw = lp_b
            ws[_RHOF] = ws[_RHO]
            ws[_PFB] = ws[_PBF]  # as Stan: p_fwd_bck = p_bck_fwd
            sign = -1.0
        eps = sign * step_size
        # ---- build a subtree of depth `depth`, leaf by leaf (Stan's build_tree) ----
        n_leaves = 1 << depth
        valid = True
        c_lsw = -math.inf
        c_lp = 0.0
        c_h = 0.0
        for k in range(n_leaves):
            kick(vw, metric, gw, 0.5 * eps)
            drift(xw, metric, vw, eps)
            lpw, gnew = lpg(xw, fdata, idata)
            n_leap += 1
            code = eval_status(xw, lpw, gnew)
            if code == BAD_GRADIENT:  # a broken model: stop, report the point
                stats[3] = n_leap
                stats[4] = BAD_GRADIENT
                return xw.copy(), math.nan, g
            if code == NONFINITE:
                nonfinite = True
            gw[:] = gnew
            finite = math.isfinite(lpw)
            for i in range(d):
                if not math.isfinite(gw[i]):
                    finite = False
            if finite:
                kick(vw, metric, gw, 0.5 * eps)
                h = -lpw + 0.5 * _dot(vw, vw)
                if math.isnan(h):
                    h = math.inf
            else:
                h = math.inf
            if h - h0 > max_dh:
                divergent = True
            log_w = h0 - h
            sum_metro += 1.0 if log_w > 0.0 else math.exp(log_w)
            if divergent:
                valid = False
                break
            # the leaf becomes the completed node
            c_lsw = log_w
            c_lp = lpw
            c_h = h
            ws[_CPX] = xw
            ws[_CPG] = gw
            ws[_CBEG] = vw
            ws[_CEND] = vw
            ws[_CRHO] = vw
            level = 0
            while level < depth and (k >> level) & 1 == 1:
                # merge: pending left sibling at `level` (init) + completed node (final)
                base = _NFIXED + _NLEVEL * level
                lsw_sub = _logaddexp(p_lsw[level], c_lsw)
                take_right = False
                if c_lsw > lsw_sub:
                    take_right = True
                elif rng.random() < math.exp(c_lsw - lsw_sub):
                    take_right = True
                if not take_right:
                    ws[_CPX] = ws[base]
                    ws[_CPG] = ws[base + 1]
                    c_lp = p_lp[level]
                    c_h = p_h[level]
                l_beg = ws[base + 2]
                l_end = ws[base + 3]
                l_rho = ws[base + 4]
                persist = _criterion_ext(l_beg, ws[_CBEG], l_rho, ws[_CBEG])
                persist = persist and _criterion_ext(l_end, ws[_CEND], ws[_CRHO], l_end)
                for i in range(d):
                    ws[_CRHO, i] += l_rho[i]
                persist = _criterion(l_beg, ws[_CEND], ws[_CRHO]) and persist
                ws[_CBEG] = l_beg
                c_lsw = lsw_sub
                if not persist:
                    valid = False
                    break
                level += 1
            if not valid:
                break
            if level < depth:  # a left child: wait for its sibling
                base = _NFIXED + _NLEVEL * level
                ws[base] = ws[_CPX]
                ws[base + 1] = ws[_CPG]
                ws[base + 2] = ws[_CBEG]
                ws[base + 3] = ws[_CEND]
                ws[base + 4] = ws[_CRHO]
                p_lsw[level] = c_lsw
                p_lp[level] = c_lp
                p_h[level] = c_h
        # ---- back in the transition ----
        if forward:
            ws[_XF] = xw
            ws[_GF] = gw
            ws[_VF] = vw
            lp_f = lpw
        else:
            ws[_XB] = xw
            ws[_GB] = gw
            ws[_VB] = vw
            lp_b = lpw
        if not valid:
            break
        depth += 1
        if forward:
            ws[_RHOF] = ws[_CRHO]
            ws[_PFB] = ws[_CBEG]
            ws[_PFF] = ws[_CEND]
        else:
            ws[_RHOB] = ws[_CRHO]
            ws[_PBF] = ws[_CBEG]
            ws[_PBB] = ws[_CEND]
        take = False
        if c_lsw > log_sum_weight:
            take = True
        elif rng.random() < math.exp(c_lsw - log_sum_weight):
            take = True
        if take:
            ws[_XS] = ws[_CPX]
            ws[_GS] = ws[_CPG]
            lp_s = c_lp
            h_s = c_h
        log_sum_weight = _logaddexp(log_sum_weight, c_lsw)
        for i in range(d):
            ws[_RHO, i] = ws[_RHOB, i] + ws[_RHOF, i]
        persist = _criterion(ws[_PBB], ws[_PFF], ws[_RHO])
        persist = persist and _criterion_ext(ws[_PBB], ws[_PFB], ws[_RHOB], ws[_PFB])
        persist = persist and _criterion_ext(ws[_PBF], ws[_PFF], ws[_RHOF], ws[_PBF])
        if not persist:
            break
    stats[2] = sum_metro / n_leap
    stats[3] = n_leap
    stats[4] = (NONFINITE if nonfinite else DIVERGENT) if divergent else 0.0
    stats[5] = h_s
    stats[6] = depth
    stats[7] = 1.0 if depth >= max_depth else 0.0
    return ws[_XS].copy(), lp_s, ws[_GS].copy()


@dataclass(frozen=True)
class NUTS(SamplerMethod):
    """The No-U-Turn Sampler (multinomial, Stan's variant); the default method.

    Parameters
    ----------
    step_size : float, optional
        Initial leapfrog step size; by default Stan's doubling/halving heuristic.
    max_tree_depth : int
        Maximum number of trajectory doublings (``2**max_tree_depth`` leapfrog steps at
        most), Stan's default 10; between 1 and 30.
    max_energy_error : float
        Energy error beyond which a leapfrog step counts as a divergence (Stan: 1000).
    target_accept : float
        Acceptance statistic targeted by dual averaging (Stan's default 0.8).
    adapt_step_size, adapt_mass_matrix : bool
        Warmup adaptation switches (both on by default, as in Stan).
    metric : {"diag", "dense"}
        Diagonal metric (Stan's ``diag_e``, default) or dense one (``dense_e``), both
        adapted in Stan's windows.
    inv_mass : array of shape (dim,) or (dim, dim), optional
        Initial inverse mass matrix (default identity); a matrix needs
        ``metric="dense"`` and must be symmetric positive definite.

    Examples
    --------
    >>> from geobayes.samplers import NUTS
    >>> NUTS(max_tree_depth=8)
    NUTS(step_size=None, target_accept=0.8, adapt_step_size=True, adapt_mass_matrix=True, \
max_tree_depth=8, max_energy_error=1000.0)
    """

    target_accept: float = 0.8
    adapt_mass_matrix: bool = True
    max_tree_depth: int = 10
    max_energy_error: float = 1000.0

    name = "nuts"
    extra_stat_names = ("tree_depth", "reached_max_treedepth")
    stat_names = (
        "lp",
        "acceptance_rate",
        "step_size",
        "tree_depth",
        "n_steps",
        "diverging",
        "energy",
        "reached_max_treedepth",
    )

    def __post_init__(self):
        super().__post_init__()
        mtd = self.max_tree_depth
        if isinstance(mtd, bool) or not isinstance(mtd, (int, np.integer)):
            raise TypeError(f"max_tree_depth must be an integer, got {type(mtd).__name__}")
        if not 1 <= mtd <= _MAX_DEPTH_LIMIT:
            raise ValueError(
                f"max_tree_depth must be between 1 and {_MAX_DEPTH_LIMIT}, got {mtd}; "
                "Stan's default is 10"
            )
        mee = self.max_energy_error
        if isinstance(mee, bool) or not isinstance(mee, (int, float)) or not mee > 0:
            raise ValueError(f"max_energy_error must be a positive number, got {mee!r}")

    @property
    def step_fn(self):
        """The jitted step of type :data:`geobayes.samplers._chunk.STEP`."""
        return nuts_step

    def params_array(self) -> np.ndarray:
        """``[max_tree_depth, max_energy_error]`` for the step."""
        return np.array([float(self.max_tree_depth), float(self.max_energy_error)])
