r"""Jitted kernels of DIMS (dissipative Riemannian mechanics on the loss surface).

The dynamics
------------
A ball of unit mass moves on the loss surface seen through a Riemannian metric
:math:`G(\theta)`, pulled down by gravity :math:`g` and slowed by Rayleigh friction
:math:`\gamma`::

    G th'' + c(th, th') = -g grad L - gamma G th'
    E = 1/2 th'^T G th' + g L,        dE/dt = -gamma th'^T G th' <= 0

With the graph metric :math:`G = I + \lambda \nabla L \nabla L^T` (the pull-back of
:math:`\mathbb{R}^{d+1}` under :math:`\theta \mapsto (\theta, \sqrt{\lambda} L)`) the
equation of motion is explicit (Sherman-Morrison)::

    th'' = -(lambda v^T H v + g) grad L / (1 + lambda |grad L|^2) - gamma v,   H = Hess L

``lambda = 0`` (:data:`METRIC_EUCLIDEAN`) is the damped heavy-ball ODE and needs no
Hessian; ``g = gamma = 0`` is the geodesic flow of the graph metric.

Integrators (``params[P_INTEGRATOR]``)
---------------------------------------
Both are the symmetric velocity-Verlet scheme for velocity-dependent forces
(explicit half kick at ``(th_k, v_k)``, drift, half kick at ``(th_{k+1}, v_{k+1})``
*implicit* in ``v_{k+1}``), second order, one gradient and one Hessian-vector product
per step.  The implicit half kick changes ``v`` only along ``grad L``, so with
``w = H v_{1/2}`` the quadratic form is ``q(a) = v^T w + 2a grad L.w + a^2 grad L^T H
grad L`` for ``v_{k+1} = v_{1/2} + a grad L``: the kick is a scalar equation in ``a``,
solved in closed form.  By default the ``a^2`` term (an ``O(h^2)`` change of ``q``, hence
``O(h^3)`` per step) is dropped; ``exact_curvature`` computes ``H grad L`` too (a second
Hessian-vector product per step) and solves the quadratic exactly.  The next step's
explicit half kick reuses ``q``, so no further product is needed.

* :data:`INTEGRATOR_VERLET` (default): friction split, ``v *= exp(-gamma h/2)`` before
  and after the kicks (spec section 3.4).  Along a flat floor it travels
  ``(s/gamma) (gamma h/2)/sinh(gamma h/2)`` instead of ``s/gamma``.
* :data:`INTEGRATOR_DAMPED_DRIFT`: kick / exact damped drift
  (``th += v (1 - exp(-gamma h))/gamma``, ``v *= exp(-gamma h)``) / kick (spec 3.10.2),
  exact along flat floors.

Energy safeguard: a step whose energy rises by more than ``tol_energy * (E - g L_low)``
(``L_low`` the lowest loss seen on the trajectory, so ``E - g L_low`` >= the kinetic energy
is the energy still to dissipate and the rule does not change when a constant is added to
the loss; plus a rounding allowance) or whose loss is not finite is redone with half the
step.  Relative to the energy still present, an unstable step is caught at any amplitude
(an absolute tolerance let too-long steps sustain small oscillations forever); after 10
accepted steps the step grows by 1.2, up to ``h_max``.

Hessian-vector products: forward directional finite difference of the model's gradient,
``H v = |v| (grad L(th + eps v/|v|) - grad L(th)) / eps`` with
``eps = fd_eps (1 + |th|_inf)``; exact for quadratic losses up to rounding.

Stopping rule: kinetic energy ``1/2 v^T G v < tol_kinetic`` **and** ``|grad L| < tol_grad``;
otherwise the draw ends at ``T_max`` (or ``max_steps``) and is flagged ``hit_T_max``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, int64, njit, types

from geobayes._lazy import lazy_njit
from geobayes.types import GENERATOR, LPG

__all__ = [
    "METRIC_GRAPH",
    "METRIC_EUCLIDEAN",
    "INTEGRATOR_VERLET",
    "INTEGRATOR_DAMPED_DRIFT",
    "KICK_FIXED_ENERGY",
    "KICK_MAXWELL",
    "N_PARAMS",
    "EXTRA_STAT_NAMES",
    "N_EXTRA",
    "dims_integrate",
    "dims_transition",
    "dims_chain",
    "top_curvature",
    "hvp_fd",
]

# -- variant codes (the front exposes them as enums) ---------------------------------------
METRIC_GRAPH = 0
METRIC_EUCLIDEAN = 1
INTEGRATOR_VERLET = 0
INTEGRATOR_DAMPED_DRIFT = 1
KICK_FIXED_ENERGY = 0
KICK_MAXWELL = 1

# -- layout of the parameter vector --------------------------------------------------------
P_GRAVITY = 0
P_FRICTION = 1
P_LAMBDA = 2
P_K0 = 3
P_H0 = 4
P_HMAX = 5
P_TOL_E = 6
P_TOL_KIN = 7
P_TOL_GRAD = 8
P_TMAX = 9
P_MAX_STEPS = 10
P_INTEGRATOR = 11
P_METRIC = 12
P_KICK = 13
P_EXACT_CURV = 14
P_ADAPTIVE = 15
P_FD_EPS = 16
N_PARAMS = 17

#: Per-draw statistics written by :func:`dims_transition` (in this order).
EXTRA_STAT_NAMES = (
    "loss",
    "grad_norm",
    "stop_time",
    "n_integration_steps",
    "energy_initial",
    "energy_final",
    "hit_T_max",
    "kinetic_energy",
    "energy_max_increase",
    "loss_max",
    "n_rejected_steps",
    "n_grad",
    "diverging",
)
N_EXTRA = len(EXTRA_STAT_NAMES)
S_LOSS, S_GNORM, S_TIME, S_NSTEPS, S_E0, S_E1, S_HIT, S_K0, S_DEMAX, S_LMAX, S_NREJ = range(11)
S_NGRAD, S_DIV = 11, 12

_GROW_AFTER = 10  # accepted steps before the step size may grow again
_GROW = 1.2
_MIN_H_FRACTION = 1e-12  # give up (diverging) when h falls below this fraction of h0


@njit(cache=True, inline="always")
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(cache=True)
def _loss_grad_into(lpg, x, fdata, idata, out):
    """Loss at ``x``, its gradient written into ``out`` (no allocation besides the model's)."""
    lp, g = lpg(x, fdata, idata)
    for i in range(x.shape[0]):
        out[i] = -g[i]
    return -lp


@njit(cache=True)
def _hvp_into(lpg, x, gl, v, fdata, idata, fd_eps, xe, out):
    """``out = H v`` by a forward directional difference; ``xe`` is a work buffer."""
    d = x.shape[0]
    nv = math.sqrt(_dot(v, v))
    if nv == 0.0:
        for i in range(d):
            out[i] = 0.0
        return
    xm = 0.0
    for i in range(d):
        xm = max(xm, abs(x[i]))
    eps = fd_eps * (1.0 + xm)
    for i in range(d):
        xe[i] = x[i] + eps * v[i] / nv
    _, ge = lpg(xe, fdata, idata)  # log-density gradient: the loss gradient is -ge
    s = nv / eps
    for i in range(d):
        out[i] = (-ge[i] - gl[i]) * s


@lazy_njit(
    float64[::1](LPG, float64[::1], float64[::1], float64[::1], float64[::1], int64[::1], float64),
    cache=True,
)
def hvp_fd(lpg, x, gl, v, fdata, idata, fd_eps):
    """Hessian of the loss times ``v`` by a forward directional difference.

    ``gl`` is the loss gradient at ``x``; the step along ``v/|v|`` is
    ``fd_eps (1 + |x|_inf)``.  Returns zeros for ``v = 0``.
    """
    out = np.empty(x.shape[0])
    _hvp_into(lpg, x, gl, v, fdata, idata, fd_eps, np.empty(x.shape[0]), out)
    return out


@njit(cache=True, inline="always")
def _kinetic(v, gl, lam):
    gv = _dot(gl, v)
    return 0.5 * (_dot(v, v) + lam * gv * gv)


@njit(cache=True, inline="always")
def _write_row(record, k, t, loss, energy, x, v):
    d = x.shape[0]
    record[k, 0] = t
    record[k, 1] = loss
    record[k, 2] = energy
    for i in range(d):
        record[k, 3 + i] = x[i]
        record[k, 3 + d + i] = v[i]


_INTEGRATE_SIG = types.Tuple((float64[::1], float64[::1], float64, float64[::1], int64))(
    LPG,
    float64[::1],  # x
    float64[::1],  # v
    float64,  # loss at x
    float64[::1],  # loss gradient at x
    float64[::1],  # fdata
    int64[::1],  # idata
    float64[::1],  # params
    float64[::1],  # stats (out, length >= N_EXTRA)
    float64[:, ::1],  # record (out): rows [t, L, E, x (d), v (d)]; 0 rows to disable
)


@lazy_njit(_INTEGRATE_SIG, cache=True, nogil=True)
def dims_integrate(lpg, x, v, loss, gl, fdata, idata, params, stats, record):
    """Integrate from ``(x, v)`` until the ball stops (or ``T_max``); see the module docstring.

    Returns ``(x, v, loss, grad_loss, n_recorded)`` at the stopping point and writes the
    per-draw statistics (:data:`EXTRA_STAT_NAMES`) into ``stats``.  ``record`` receives one
    row for the start and for each accepted step (time, loss, energy, position, velocity)
    while rows remain.
    """
    d = x.shape[0]
    g = params[P_GRAVITY]
    gamma = params[P_FRICTION]
    lam = params[P_LAMBDA] if int(params[P_METRIC]) == METRIC_GRAPH else 0.0
    h0 = params[P_H0]
    h_max = params[P_HMAX]
    tol_e = params[P_TOL_E]
    tol_kin = params[P_TOL_KIN]
    tol_grad = params[P_TOL_GRAD]
    t_max = params[P_TMAX]
    max_steps = int(params[P_MAX_STEPS])
    drift_exact = int(params[P_INTEGRATOR]) == INTEGRATOR_DAMPED_DRIFT
    exact_curv = params[P_EXACT_CURV] != 0.0 and lam != 0.0
    adaptive = params[P_ADAPTIVE] != 0.0
    fd_eps = params[P_FD_EPS]

    xc = x.copy()
    vc = v.copy()
    gc = gl.copy()
    gn = np.empty(d)  # loss gradient at the proposed point (swapped with gc on acceptance)
    w = np.empty(d)  # Hessian-vector products
    u = np.empty(d)
    xe = np.empty(d)  # finite-difference work point
    lc = loss
    n_grad = 0
    # q = v^T H v at the current state (needed only with the graph metric)
    q = 0.0
    if lam != 0.0:
        _hvp_into(lpg, xc, gc, vc, fdata, idata, fd_eps, xe, w)
        n_grad += 1
        q = _dot(vc, w)
    kin = _kinetic(vc, gc, lam)
    e_cur = kin + g * lc
    e0 = e_cur
    l_min = lc  # lowest loss seen: E - g l_min >= kinetic energy is the energy still to lose
    de_max = -math.inf
    l_max = lc
    t = 0.0
    h = h0
    n_acc = 0
    n_rej = 0
    since_grow = 0
    n_rec = 0
    hit = False
    diverging = False
    xn = np.empty(d)
    v1 = np.empty(d)
    kin_n = 0.0
    e_new = 0.0
    if record.shape[0] > 0:
        _write_row(record, 0, 0.0, lc, e_cur, xc, vc)
        n_rec = 1
    while True:
        gn2 = _dot(gc, gc)
        if kin < tol_kin and math.sqrt(gn2) < tol_grad:
            break
        if t >= t_max or n_acc >= max_steps:
            hit = True
            break
        dn = 1.0 + lam * gn2
        # -- first half: friction and the explicit half kick at (x_k, v_k) --------------
        if drift_exact:
            c1 = 1.0
        else:
            c1 = math.exp(-0.5 * gamma * h)
        q1 = c1 * c1 * q
        coef = -0.5 * h * (lam * q1 + g) / dn
        for i in range(d):
            v1[i] = c1 * vc[i] + coef * gc[i]
        # -- drift -------------------------------------------------------------------
        if drift_exact:
            if gamma > 0.0:
                dt_eff = -math.expm1(-gamma * h) / gamma
                cd = math.exp(-gamma * h)
            else:
                dt_eff = h
                cd = 1.0
            for i in range(d):
                xn[i] = xc[i] + dt_eff * v1[i]
                v1[i] *= cd
            c2 = 1.0
        else:
            for i in range(d):
                xn[i] = xc[i] + h * v1[i]
            c2 = c1
        ln = _loss_grad_into(lpg, xn, fdata, idata, gn)
        n_grad += 1
        ok = math.isfinite(ln)
        # -- second half kick, implicit in v_{k+1} along grad L ------------------------
        a = 0.0
        qn = 0.0
        if ok:
            gng = _dot(gn, gn)
            dn1 = 1.0 + lam * gng
            if lam != 0.0:
                _hvp_into(lpg, xn, gn, v1, fdata, idata, fd_eps, xe, w)
                n_grad += 1
                q0 = _dot(v1, w)
                p = _dot(gn, w)
                r = 0.0
                if exact_curv:
                    _hvp_into(lpg, xn, gn, gn, fdata, idata, fd_eps, xe, u)
                    n_grad += 1
                    r = _dot(gn, u)
                # (h/2) lam r a^2 + (dn1 + h lam p) a + (h/2)(lam q0 + g) = 0
                aa = 0.5 * h * lam * r
                bb = dn1 + h * lam * p
                cc = 0.5 * h * (lam * q0 + g)
                disc = bb * bb - 4.0 * aa * cc
                if bb > 0.1 * dn1 and disc >= 0.0:
                    a = -2.0 * cc / (bb + math.sqrt(disc))
                else:  # stiff: explicit kick, left to the energy safeguard
                    a = -cc / dn1
                qn = q0 + 2.0 * a * p + a * a * r
            else:
                a = -0.5 * h * g / dn1
            for i in range(d):
                v1[i] = c2 * (v1[i] + a * gn[i])
            qn *= c2 * c2
            kin_n = _kinetic(v1, gn, lam)
            e_new = kin_n + g * ln
            ok = math.isfinite(e_new)
            if ok and adaptive:
                # relative to the energy still to dissipate (so unstable steps are caught at
                # any amplitude), plus a rounding allowance for E = K + g L
                e_scale = e_cur - g * l_min
                allow = tol_e * e_scale + 32.0 * 2.2e-16 * (abs(g * ln) + kin + kin_n)
                if e_new - e_cur > allow:
                    ok = False
        if not ok:
            n_rej += 1
            since_grow = 0
            h *= 0.5
            if h < _MIN_H_FRACTION * h0 or not adaptive:
                diverging = True
                break
            continue
        # -- accept -------------------------------------------------------------------
        de = e_new - e_cur
        if de > de_max:
            de_max = de
        for i in range(d):
            xc[i] = xn[i]
            vc[i] = v1[i]
        gc, gn = gn, gc
        lc = ln
        if lc > l_max:
            l_max = lc
        if lc < l_min:
            l_min = lc
        q = qn
        kin = kin_n
        e_cur = e_new
        t += h
        n_acc += 1
        if n_rec < record.shape[0]:
            _write_row(record, n_rec, t, lc, e_cur, xc, vc)
            n_rec += 1
        if adaptive:
            since_grow += 1
            if since_grow >= _GROW_AFTER:
                h = min(h * _GROW, h_max)
                since_grow = 0
    stats[S_LOSS] = lc
    stats[S_GNORM] = math.sqrt(_dot(gc, gc))
    stats[S_TIME] = t
    stats[S_NSTEPS] = n_acc
    stats[S_E0] = e0
    stats[S_E1] = e_cur
    stats[S_HIT] = 1.0 if hit else 0.0
    stats[S_K0] = e0 - g * loss
    stats[S_DEMAX] = de_max if n_acc > 0 else 0.0
    stats[S_LMAX] = l_max
    stats[S_NREJ] = n_rej
    stats[S_NGRAD] = n_grad
    stats[S_DIV] = 1.0 if diverging else 0.0
    return xc, vc, lc, gc, n_rec


@njit(cache=True)
def _kick(rng, gl, params):
    """Initial velocity of a draw (see :class:`geobayes.samplers.dims.KickLaw`)."""
    d = gl.shape[0]
    lam = params[P_LAMBDA] if int(params[P_METRIC]) == METRIC_GRAPH else 0.0
    k0 = params[P_K0]
    z = rng.standard_normal(d)
    gz = _dot(gl, z)
    gg = _dot(gl, gl)
    v = np.empty(d)
    if int(params[P_KICK]) == KICK_MAXWELL:
        # v ~ N(0, sigma^2 G^{-1}),  G^{-1/2} = I - c g g^T,  c = (1 - 1/sqrt(1 + lam|g|^2))/|g|^2
        sigma = math.sqrt(2.0 * k0 / d)
        c = 0.0
        if gg > 0.0 and lam > 0.0:
            c = (1.0 - 1.0 / math.sqrt(1.0 + lam * gg)) / gg
        for i in range(d):
            v[i] = sigma * (z[i] - c * gz * gl[i])
        return v
    # fixed kinetic energy K0, direction isotropic: v = sqrt(2 K0) z / |z|_G
    nz = math.sqrt(_dot(z, z) + lam * gz * gz)
    s = math.sqrt(2.0 * k0) / nz if nz > 0.0 else 0.0
    for i in range(d):
        v[i] = s * z[i]
    return v


_TRANSITION_SIG = types.Tuple((float64[::1], float64, float64[::1]))(
    GENERATOR,
    float64[::1],  # x
    float64,  # loss
    float64[::1],  # loss gradient
    LPG,
    float64[::1],  # fdata
    int64[::1],  # idata
    float64[::1],  # params
    float64[::1],  # stats out (N_EXTRA)
)


@lazy_njit(_TRANSITION_SIG, cache=True, nogil=True)
def dims_transition(rng, x, loss, gl, lpg, fdata, idata, params, stats):
    """One DIMS draw: kick from ``x`` with the chain's generator, dissipate until stopped.

    Returns ``(x, loss, grad_loss)`` at the stopping point; per-draw statistics go to
    ``stats``.  A draw that fails numerically (``diverging``) returns its start point.
    """
    v = _kick(rng, gl, params)
    rec = np.empty((0, 2 * x.shape[0] + 3))
    xn, _, ln, gn, _ = dims_integrate(lpg, x, v, loss, gl, fdata, idata, params, stats, rec)
    if stats[S_DIV] != 0.0:
        return x.copy(), loss, gl.copy()
    return xn, ln, gn


@lazy_njit(
    int64(
        GENERATOR,
        float64[::1],
        LPG,
        float64[::1],
        int64[::1],
        float64[::1],
        float64[:, ::1],
        float64[:, ::1],
    ),
    cache=True,
    nogil=True,
)
def dims_chain(rng, x0, lpg, fdata, idata, params, out_x, out_stats):
    """Standalone kick-dissipate chain of ``out_x.shape[0]`` draws from ``x0``.

    Writes positions to ``out_x`` and statistics (:data:`EXTRA_STAT_NAMES`) to
    ``out_stats``; returns the number of draws flagged ``hit_T_max``.
    """
    x = x0.copy()
    gl = np.empty(x.shape[0])
    loss = _loss_grad_into(lpg, x, fdata, idata, gl)
    n_hit = 0
    for s in range(out_x.shape[0]):
        st = out_stats[s]
        x, loss, gl = dims_transition(rng, x, loss, gl, lpg, fdata, idata, params, st)
        out_x[s, :] = x
        if st[S_HIT] != 0.0:
            n_hit += 1
    return n_hit


@lazy_njit(float64(LPG, float64[::1], float64[::1], int64[::1], int64, float64), cache=True)
def top_curvature(lpg, x, fdata, idata, n_iter, fd_eps):
    """Largest-magnitude Hessian eigenvalue of the loss at ``x`` (power iteration, FD HVPs)."""
    d = x.shape[0]
    gl = np.empty(d)
    _loss_grad_into(lpg, x, fdata, idata, gl)
    u = np.empty(d)
    for i in range(d):
        u[i] = 1.0 + 0.1 * ((i * 7919) % 13)  # fixed, generic start vector
    nu = math.sqrt(_dot(u, u))
    for i in range(d):
        u[i] /= nu
    lam = 0.0
    for _ in range(n_iter):
        w = hvp_fd(lpg, x, gl, u, fdata, idata, fd_eps)
        lam = _dot(u, w)
        nw = math.sqrt(_dot(w, w))
        if nw == 0.0 or not math.isfinite(nw):
            break
        for i in range(d):
            u[i] = w[i] / nw
    return lam
