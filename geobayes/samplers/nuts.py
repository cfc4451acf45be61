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
step of the transition of :math:`\min(1, e^{H_0 - H})`.  The step also writes nutpie's
symmetric statistic, the mean of :math:`2 \min(1, r) / (1 + r)` with
:math:`r = e^{H_0 - H}` (a hidden column ``acceptance_sym``, not in the trace), which the
default adaptation reads late in the warmup.  In whitened coordinates
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
from dataclasses import dataclass, field

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
_XF, _GF, _VF = 0, 1, 2  # forward end of the trajectory (the leapfrog works in place here)
_XB, _GB, _VB = 3, 4, 5  # backward end
_XS, _GS = 6, 7  # current sample
_PFF, _PFB, _PBF, _PBB = 8, 9, 10, 11  # momenta at the ends of the two subtrees
_RHO, _RHOF, _RHOB = 12, 13, 14  # summed momenta: trajectory, forward, backward part
_NFIXED = 15
# Nodes of the subtree under construction live in a pool of slots of 5 rows each:
# proposal x, proposal g, first momentum (beg), last momentum (end), summed momenta (rho).
# A leaf writes x, g and its momentum into the beg row only (end = rho = beg for a leaf);
# a merge writes the merged node into the slot of the sibling whose proposal won and
# frees the other slot, and a node waiting for its right sibling is parked by index.
# Nothing is copied per leaf or per merge beyond these writes.
_NSLOT = 5
_SX, _SG, _SBEG, _SEND, _SRHO = 0, 1, 2, 3, 4


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
def _node_rows(ws_base, leaf):
    """Rows of a node's first momentum, last momentum and summed momenta."""
    beg = ws_base + _SBEG
    if leaf:
        return beg, beg, beg
    return beg, ws_base + _SEND, ws_base + _SRHO


@lazy_njit(STEP_SIG, cache=True, nogil=True)
def nuts_step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
    """One multinomial NUTS transition; ``params = [max_tree_depth, max_energy_error]``.

    Statistics written: acceptance rate (Stan's mean Metropolis probability over the
    trajectory), ``n_steps`` (leapfrog steps = gradients), ``diverging``, ``energy``
    (Hamiltonian of the returned state), then extra columns ``tree_depth`` and
    ``reached_max_treedepth``.
    """
    d = x.shape[0]
    dense = metric.shape[0] != d
    max_depth = int(params[0])
    max_dh = params[1]
    n_slots = max_depth + 1  # pending nodes (<= depth) + the node being completed
    ws = np.empty((_NFIXED + _NSLOT * n_slots, d))
    v0 = rng.standard_normal(d)
    kin0 = 0.0
    for i in range(d):
        vi = v0[i]
        kin0 += vi * vi
        ws[_XF, i] = x[i]
        ws[_XB, i] = x[i]
        ws[_XS, i] = x[i]
        ws[_GF, i] = g[i]
        ws[_GB, i] = g[i]
        ws[_GS, i] = g[i]
        ws[_VF, i] = vi
        ws[_VB, i] = vi
        ws[_PFF, i] = vi
        ws[_PFB, i] = vi
        ws[_PBF, i] = vi
        ws[_PBB, i] = vi
        ws[_RHO, i] = vi
    h0 = -lp + 0.5 * kin0
    lp_f = lp
    lp_b = lp
    lp_s = lp
    h_s = h0
    log_sum_weight = 0.0
    n_leap = 0
    sum_metro = 0.0
    sum_sym = 0.0
    depth = 0
    divergent = False
    nonfinite = False  # a NaN / +inf log density met (reported apart from divergences)
    # per-level pending left siblings: slot, leaf flag, log weight, proposal's lp, energy
    p_slot = np.empty(max_depth, dtype=np.int64)
    p_leaf = np.empty(max_depth, dtype=np.bool_)
    p_lsw = np.empty(max_depth)
    p_lp = np.empty(max_depth)
    p_h = np.empty(max_depth)
    free = np.empty(n_slots, dtype=np.int64)  # stack of free slots
    while depth < max_depth:
        forward = rng.random() > 0.5
        if forward:
            xw = ws[_XF]
            gw = ws[_GF]
            vw = ws[_VF]
            lpw = lp_f
            for i in range(d):
                ws[_RHOB, i] = ws[_RHO, i]
                ws[_PBF, i] = ws[_PFB, i]  # as Stan: p_bck_fwd = p_fwd_bck
            sign = 1.0
        else:
            xw = ws[_XB]
            gw = ws[_GB]
            vw = ws[_VB]
            lpw = lp_b
            for i in range(d):
                ws[_RHOF, i] = ws[_RHO, i]
                ws[_PFB, i] = ws[_PBF, i]  # as Stan: p_fwd_bck = p_bck_fwd
            sign = -1.0
        eps = sign * step_size
        half = 0.5 * eps
        # ---- build a subtree of depth `depth`, leaf by leaf (Stan's build_tree) ----
        n_leaves = 1 << depth
        for k in range(n_slots):
            free[k] = n_slots - 1 - k
        n_free = n_slots
        valid = True
        c_slot = 0
        c_leaf = True
        c_lsw = -math.inf
        c_lp = 0.0
        c_h = 0.0
        for k in range(n_leaves):
            # leapfrog step: half kick + drift (fused for a diagonal metric)
            if dense:
                kick(vw, metric, gw, half)
                drift(xw, metric, vw, eps)
            else:
                for i in range(d):
                    vi = vw[i] + half * metric[i] * gw[i]
                    vw[i] = vi
                    xw[i] += eps * metric[i] * vi
            lpw, gnew = lpg(xw, fdata, idata)
            n_leap += 1
            code = eval_status(xw, lpw, gnew)
            if code == BAD_GRADIENT:  # a broken model: stop, report the point
                stats[3] = n_leap
                stats[4] = BAD_GRADIENT
                return xw.copy(), math.nan, g
            if code == NONFINITE:
                nonfinite = True
            n_free -= 1
            c_slot = free[n_free]
            base = _NFIXED + _NSLOT * c_slot
            # half kick, kinetic energy, finiteness, and the leaf written to its slot
            finite = math.isfinite(lpw)
            kin = 0.0
            if dense:
                for i in range(d):
                    gi = gnew[i]
                    if not math.isfinite(gi):
                        finite = False
                    gw[i] = gi
                kick(vw, metric, gw, half)
                for i in range(d):
                    vi = vw[i]
                    kin += vi * vi
                    ws[base + _SX, i] = xw[i]
                    ws[base + _SG, i] = gw[i]
                    ws[base + _SBEG, i] = vi
            else:
                for i in range(d):
                    gi = gnew[i]
                    if not math.isfinite(gi):
                        finite = False
                    gw[i] = gi
                    vi = vw[i] + half * metric[i] * gi
                    vw[i] = vi
                    kin += vi * vi
                    ws[base + _SX, i] = xw[i]
                    ws[base + _SG, i] = gi
                    ws[base + _SBEG, i] = vi
            if finite:
                h = -lpw + 0.5 * kin
                if math.isnan(h):
                    h = math.inf
            else:
                h = math.inf
            if h - h0 > max_dh:
                divergent = True
            log_w = h0 - h
            if log_w > 0.0:
                sum_metro += 1.0
                sum_sym += 2.0 / (1.0 + math.exp(log_w))
            else:
                ew = math.exp(log_w)
                sum_metro += ew
                sum_sym += 2.0 * ew / (1.0 + ew)
            if divergent:
                valid = False
                break
            # the leaf becomes the completed node
            c_leaf = True
            c_lsw = log_w
            c_lp = lpw
            c_h = h
            level = 0
            while level < depth and (k >> level) & 1 == 1:
                # merge: pending left sibling at `level` (init) + completed node (final)
                l_slot = p_slot[level]
                lsw_sub = _logaddexp(p_lsw[level], c_lsw)
                take_right = False
                if c_lsw > lsw_sub:
                    take_right = True
                elif rng.random() < math.exp(c_lsw - lsw_sub):
                    take_right = True
                lbase = _NFIXED + _NSLOT * l_slot
                rbase = _NFIXED + _NSLOT * c_slot
                lb_r, le_r, lr_r = _node_rows(lbase, p_leaf[level])
                rb_r, re_r, rr_r = _node_rows(rbase, c_leaf)
                # the three U-turn checks of Stan's build_tree in one pass:
                # (left + first of right), (right + last of left), (left + right)
                s1p = 0.0
                s1m = 0.0
                s2p = 0.0
                s2m = 0.0
                s3p = 0.0
                s3m = 0.0
                if take_right:  # merged node in the right sibling's slot
                    wb = rbase + _SBEG
                    we = rbase + _SEND
                    wr = rbase + _SRHO
                else:  # ... in the left one's (its beg row already holds the first momentum)
                    wb = lbase + _SBEG
                    we = lbase + _SEND
                    wr = lbase + _SRHO
                for i in range(d):
                    lb = ws[lb_r, i]
                    le = ws[le_r, i]
                    lr = ws[lr_r, i]
                    rb = ws[rb_r, i]
                    re = ws[re_r, i]
                    rr = ws[rr_r, i]
                    e1 = lr + rb
                    s1p += rb * e1
                    s1m += lb * e1
                    e2 = rr + le
                    s2p += re * e2
                    s2m += le * e2
                    rho = rr + lr
                    s3p += re * rho
                    s3m += lb * rho
                    ws[wb, i] = lb
                    ws[we, i] = re
                    ws[wr, i] = rho
                persist = s1p > 0.0 and s1m > 0.0 and s2p > 0.0 and s2m > 0.0
                persist = s3p > 0.0 and s3m > 0.0 and persist
                if take_right:
                    free[n_free] = l_slot
                else:
                    free[n_free] = c_slot
                    c_slot = l_slot
                    c_lp = p_lp[level]
                    c_h = p_h[level]
                n_free += 1
                c_leaf = False
                c_lsw = lsw_sub
                if not persist:
                    valid = False
                    break
                level += 1
            if not valid:
                break
            if level < depth:  # a left child: park it until its sibling is built
                p_slot[level] = c_slot
                p_leaf[level] = c_leaf
                p_lsw[level] = c_lsw
                p_lp[level] = c_lp
                p_h[level] = c_h
        # ---- back in the transition ----
        if forward:
            lp_f = lpw
        else:
            lp_b = lpw
        if not valid:
            break
        depth += 1
        cbase = _NFIXED + _NSLOT * c_slot
        cb_r, ce_r, cr_r = _node_rows(cbase, c_leaf)
        take = False
        if c_lsw > log_sum_weight:
            take = True
        elif rng.random() < math.exp(c_lsw - log_sum_weight):
            take = True
        if take:
            for i in range(d):
                ws[_XS, i] = ws[cbase + _SX, i]
                ws[_GS, i] = ws[cbase + _SG, i]
            lp_s = c_lp
            h_s = c_h
        log_sum_weight = _logaddexp(log_sum_weight, c_lsw)
        if forward:
            rho_new, beg_new, end_new = _RHOF, _PFB, _PFF
        else:
            rho_new, beg_new, end_new = _RHOB, _PBF, _PBB
        # the new subtree's momenta into place, the trajectory's rho, and the three
        # checks: (whole trajectory), (backward part + first of forward part),
        # (forward part + last of backward part)
        s1p = 0.0
        s1m = 0.0
        s2p = 0.0
        s2m = 0.0
        s3p = 0.0
        s3m = 0.0
        for i in range(d):
            cb = ws[cb_r, i]
            ce = ws[ce_r, i]
            cr = ws[cr_r, i]
            ws[beg_new, i] = cb
            ws[end_new, i] = ce
            ws[rho_new, i] = cr
            rho_b = ws[_RHOB, i]
            rho_f = ws[_RHOF, i]
            pbb = ws[_PBB, i]
            pbf = ws[_PBF, i]
            pfb = ws[_PFB, i]
            pff = ws[_PFF, i]
            rho = rho_b + rho_f
            ws[_RHO, i] = rho
            s3p += pff * rho
            s3m += pbb * rho
            e1 = rho_b + pfb
            s1p += pfb * e1
            s1m += pbb * e1
            e2 = rho_f + pbf
            s2p += pff * e2
            s2m += pbf * e2
        persist = s3p > 0.0 and s3m > 0.0
        persist = persist and s1p > 0.0 and s1m > 0.0 and s2p > 0.0 and s2m > 0.0
        if not persist:
            break
    stats[2] = sum_metro / n_leap
    stats[3] = n_leap
    stats[4] = (NONFINITE if nonfinite else DIVERGENT) if divergent else 0.0
    stats[5] = h_s
    stats[6] = depth
    stats[7] = 1.0 if depth >= max_depth else 0.0
    stats[8] = sum_sym / n_leap
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
    step_size_adaptation : {"auto", "stan", "single"}
        ``"auto"`` (default): nutpie's scheme (initial metric from the first gradient,
        metric windows of 10 iterations early on, a step-size search for the first
        adapted metric, one dual averaging through the warmup reading the symmetric
        acceptance statistic late, a final 15 % step-size window with the metric
        frozen), with a divergence guard that gives a chain diverging in the later
        warmup Stan's scheme (dual averaging restarted for the terminal window, metric
        from the last window's draws); ``"stan"``: Stan's
        dual averaging restarted at every metric window; ``"single"``: one dual
        averaging, no early windows, no guard.  See
        :class:`geobayes.samplers.base.SamplerMethod`.
    metric_adaptation : {"auto", "draws", "grad"}
        Diagonal metric from nutpie's ``sqrt(var(draws) / var(gradients))`` (``"grad"``)
        or from the draws' variances (Stan's ``"draws"``); ``"auto"`` (default) is
        ``"grad"`` for a diagonal metric and ``"draws"`` for a dense one or a chain the
        guard switched to Stan's scheme.

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
    step_size_adaptation: str = field(default="auto", repr=False)
    metric_adaptation: str = field(default="auto", repr=False)

    name = "nuts"
    extra_stat_names = ("tree_depth", "reached_max_treedepth", "acceptance_sym")
    sym_accept = True
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
