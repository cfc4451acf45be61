r"""Jitted HGF kernels: one compiled loop runs any network over a whole series.

The network arrives as arrays (see :mod:`geobayes.filters.hgf.network`):

* ``inet`` (int64, flat): a header, node kinds, edge endpoints, the prediction
  schedule (parents first), the update schedule (children first), input indices
  and CSR lists of value/volatility parents and children (edge ids);
* ``npar`` (``T[n, NP]``): per-node parameters (initial mean and precision, tonic
  volatility :math:`\omega`, tonic drift :math:`\rho`, autoconnection
  :math:`\lambda`, input precision :math:`\pi_u`);
* ``epar`` (``T[E]``): the coupling strength of every edge (:math:`\alpha` for
  value edges, :math:`\kappa` for volatility edges);
* ``gpar`` (``T[4]``): time step, response inverse temperature :math:`\zeta`,
  binary clipping :math:`\varepsilon`, posterior precision cap.

``T`` is ``float64`` for filtering and ``complex128`` for complex-step forward
differentiation in :mod:`geobayes.filters.hgf.fit`: the kernel is written once and
compiled eagerly for both types; every branch compares real parts only, so the
imaginary part carries the exact directional derivative (Squire & Trapp 1998).
New networks or parameters never recompile (eager signatures, ``cache=True``).

Per observation (spec ``hgf.md`` §1): (1) predictions top-down, (2) inputs enter,
(3) posteriors bottom-up, each node from its children's prediction errors,
exactly in pyhgf's order.

Update variants are small ints here (:data:`CLASSIC`, :data:`EHGF`,
:data:`ROBUST`); the front (:mod:`.network`) exposes them as enums.
"""

from __future__ import annotations

import numpy as np
from numba import complex128, float64, int64, njit, prange, types

from .lambertw import ZMAX_FAST, ZMIN_FAST, lambertw0_log, lambertw0_pos, lambertw0_table

# node parameter columns
MEAN0, PREC0, OMEGA, RHO, LAMBDA, INPUT_PREC, ETA0, ETA1 = 0, 1, 2, 3, 4, 5, 6, 7
NP = 8
# global parameters
G_TIME, G_ZETA, G_EPS, G_MAXPREC = 0, 1, 2, 3
NG = 4
# node kinds
CONT, INPUT_CONT, INPUT_BIN, INPUT_BIN_NOISY = 0, 1, 2, 3
# update variants
CLASSIC, EHGF, ROBUST = 0, 1, 2
# prediction variants
MEAN_FIELD, PYHGF = 0, 1
# value update variants
CANONICAL, SMOOTHED = 0, 1
# failure handling
RAISE, NAN = 0, 1
# missing observations
MISSING_ERROR, MISSING_SKIP = 0, 1
# response models
RESP_NONE, RESP_BINARY_SOFTMAX = 0, 1
# status codes written to ``status[0]``
OK, FAIL_PRECISION, FAIL_VOLATILITY = 0, 1, 2

# inet header
H_N, H_E, H_NIN, H_UPDATE, H_PRED, H_VALUE, H_FAIL, H_MISSING, H_RESP, H_NUPD = range(10)
H_RESP_INPUT = 10  # which input (position in input list) the response model reads
# standard chains (input <- c1 <-vol- c2 <-vol- c3): number of continuous nodes (0 = not
# a chain), then node indices (input, c1, c2, c3) and edge indices (alpha, kappa1, kappa2)
H_CHAIN = 11
H_CIDX = 12
H_OFF = 19  # start of the block-offset table
# blocks, in order
(
    B_KIND,
    B_ECHILD,
    B_EPARENT,
    B_PRED,
    B_UPD,
    B_INPUTS,
    B_VPAR_PTR,
    B_VPAR,
    B_WPAR_PTR,
    B_WPAR,
    B_VCH_PTR,
    B_VCH,
    B_WCH_PTR,
    B_WCH,
) = range(14)
NBLOCK = 14
HEADER = H_OFF + NBLOCK + 1

LOG2PI = np.log(2.0 * np.pi)
LOGMAX = np.log(np.finfo(np.float64).max)
TINY = 1e-128  # pyhgf's threshold: precisions / volatilities at or below it are failures


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sigmoid(x):
    if x.real >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _logaddexp(a, b):
    if a.real > b.real:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _isfinite(x):
    return np.isfinite(x.real) and np.isfinite(x.imag)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _w0log(L):
    r"""W0(exp(L)); for complex L the derivative W/(1+W) carries the imaginary part."""
    w = lambertw0_log(L.real)
    return w + (L - L.real) * (w / (1.0 + w) if L.imag != 0.0 else 0.0)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _log1pexp(x):
    """log(1 + exp(x)), stable."""
    if x.real > 0.0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _vol_at(sigc, L):
    r"""Child volatility terms at log-volatility ``L``: ``(w, log(sigma + v), 1/(sigma + v))``.

    ``v = e^L``, ``w = v / (sigma + v)``.  Direct arithmetic while ``e^L`` is finite
    (one exponential), log-space otherwise (spec §4.5).
    """
    if L.real < 700.0:
        v = np.exp(L)
        s = sigc + v
        inv = 1.0 / s
        return v * inv, np.log(s), inv
    r = np.exp(np.log(sigc) - L)  # sigma / v, tiny
    la = L + np.log1p(r)
    return 1.0 / (1.0 + r), la, np.exp(-la)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _w0_step(w, z):
    r"""``w = W0(z.real)`` as the scalar type of ``z``: for complex ``z`` (complex-step
    differentiation) the derivative :math:`W/(z(1+W)) = e^{-W}/(1+W)` carries the
    imaginary part."""
    if z.imag != 0.0:
        return w + (z - z.real) * (np.exp(-w) / (1.0 + w))
    return w + (z - z.real) * 0.0


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _w0z_table(z):
    """:func:`_w0z` for ``ZMIN_FAST <= z.real < ZMAX_FAST`` (unchecked)."""
    return _w0_step(lambertw0_table(z.real), z)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _w0z(z):
    """W0(z) for finite z > 0 (real or complex-step)."""
    return _w0_step(lambertw0_pos(z.real), z)


@njit(cache=True, nogil=True, error_model="numpy")
def _robust_careful(mh, ph, sp, kap, ikap, lv0, w1, sigc, beta, dl):
    """The robust update of :func:`_vol_single` with every overflow and fallback
    branch: called when the fast form meets an argument outside its range."""
    k2 = 0.5 * kap * kap
    if w1.real < 0.0:
        w1, _la, _inv = _vol_at(sigc, lv0)
    pi1 = ph + k2 * w1 * (1.0 - w1)
    ipi1 = 1.0 / pi1
    mu1 = mh + (0.5 * kap * w1 * ipi1) * dl
    # second expansion at x* = mh + (W0(beta h e^(h - lv0)) - h) / kappa, h = kappa^2/(2 ph)
    h = k2 * sp
    hl = h - lv0
    bh = beta * h
    z = bh * np.exp(hl)
    if hl.real < 700.0 and z.real < 1e300:
        wl = _w0z(z)
    else:
        wl = _w0log(np.log(bh) + hl)
    shift = wl - h
    xs = mh + shift * ikap
    L2 = lv0 + shift
    if wl.real > 1e-200 and L2.real < 700.0:
        # v(x*) = e^(lv0 + W - h) = beta h / W, since W e^W = beta h e^(h - lv0)
        # inv2 = 1/(sigma + v), w2 = v/(sigma + v) with a single division
        rden = 1.0 / (sigc * wl + bh)
        inv2 = wl * rden
        w2 = bh * rden
    else:
        w2, _la, inv2 = _vol_at(sigc, L2)
    dl2 = beta * inv2 - 1.0
    pi2 = ph + k2 * w2 * (w2 + (2.0 * w2 - 1.0) * dl2)
    if not (pi2.real > 0.0):
        pi2 = ph + k2 * w2 * (1.0 - w2)
    ipi2 = 1.0 / pi2
    mu2 = xs + (0.5 * kap * w2 * dl2 - ph * (xs - mh)) * ipi2
    if not (_isfinite(pi2) and _isfinite(mu2)):
        ipi2 = ipi1
        mu2 = mu1
    # variational energy difference I(mu2) - I(mu1) and the mixture weight
    d1 = mu1 - mh
    d2 = mu2 - mh
    La = lv0 + kap * d1
    Lb = lv0 + kap * d2
    if La.real < 700.0 and Lb.real < 700.0:
        sa = sigc + np.exp(La)
        sb = sigc + np.exp(Lb)
        ia = 1.0 / sa
        ib = 1.0 / sb
        # I2 - I1 = -log(sb/sa)/2 - X, so e^(I1 - I2) = sqrt(sb/sa) e^X: a square root
        # replaces a logarithm on the critical path
        X = 0.5 * beta * (ib - ia) + 0.5 * ph * (d2 * d2 - d1 * d1)
        if X.real < 700.0 and X.real > -700.0:
            b = 1.0 / (1.0 + np.sqrt(sb * ia) * np.exp(X))
        else:
            b = _sigmoid(-0.5 * np.log(sb * ia) - X)
    else:
        _w, la1, inv1 = _vol_at(sigc, La)
        _w, la2, inv2 = _vol_at(sigc, Lb)
        di = -0.5 * (la2 - la1) - 0.5 * beta * (inv2 - inv1) - 0.5 * ph * (d2 * d2 - d1 * d1)
        b = _sigmoid(di)
    dm = mu1 - mu2
    rb = 1.0 - b
    var = rb * ipi1 + b * ipi2 + b * rb * dm * dm
    return 1.0 / var, var, rb * mu1 + b * mu2


@njit(cache=True, nogil=True, error_model="numpy", inline="always", fastmath={"contract"})
def _vol_single(upd, mh, ph, sp, kap, ikap, lv0, w1, sigc, beta, g, dl, nwp):
    r"""Posterior of a node with exactly one volatility child and no value child.

    Parameters
    ----------
    upd : int
        CLASSIC, EHGF or ROBUST.
    mh, ph, sp
        Parent prediction :math:`\hat\mu_j, \hat\pi_j` and :math:`1/\hat\pi_j`.
    kap, ikap
        Volatility coupling :math:`\kappa` and :math:`1/\kappa`.
    lv0
        Log of the child's (mean-field) predicted volatility evaluated at the
        parent's predicted mean, :math:`\log t + \omega + \kappa\hat\mu_j (+ \dots)`.
    w1
        The child's :math:`w = v/(\sigma + v)` at the parent's prediction (robust
        expansion 1), or a negative number to compute it from ``lv0``.
    sigc
        Child's previous posterior variance :math:`\sigma` (floored at 1e-128).
    beta
        :math:`\beta = 1/\pi_a + \delta_a^2`.
    g, dl
        Classic effective precision :math:`\gamma_a = \Omega_a\hat\pi_a` and
        volatility PE :math:`\Delta_a = \hat\pi_a\beta - 1`.
    nwp
        Number of volatility parents of the child (classic/eHGF divide the PE by it).

    Returns
    -------
    (pi, var, x, mean_after)
        Posterior precision and variance (the variance computed without dividing by
        the precision: it lies on the loop's critical path); with ``mean_after``
        the mean is :math:`\hat\mu_j + x \cdot var` (classic, computed after the
        failure check and the precision cap), otherwise ``x`` is the posterior mean.
    """
    if upd == CLASSIC:
        dln = dl / nwp
        X = 0.5 * kap * kap * g * (g + (2.0 * g - 1.0) * dln)
        return ph + X, sp / (1.0 + X * sp), 0.5 * kap * g * dln, True
    if upd == EHGF:
        dln = dl / nwp
        newmu = mh + 0.5 * kap * g * dln * sp
        om2 = np.exp(lv0 + kap * (newmu - mh))
        ph2 = 1.0 / (sigc + om2)
        g2 = om2 * ph2
        w2 = (om2 - sigc) * ph2
        dl2 = (beta * ph2 - 1.0) / nwp
        term = 0.5 * kap * kap * g2 * (g2 + w2 * dl2)
        if term.real < 0.0:
            term = term * 0.0
        return ph + term, sp / (1.0 + term * sp), newmu, False
    # ------------------------------------------------------------- robust
    # Written for latency: the filter is one long dependency chain through this
    # function.  Quantities that do not depend on beta are formed apart, W0 is taken
    # of z directly (no logarithm), the variance needs no division by the precision,
    # and the path holds no selects: every range condition goes into one rare branch
    # to :func:`_robust_careful`, which has the overflow-safe forms and fallbacks
    # (and returns the same numbers wherever both apply).
    k2 = 0.5 * kap * kap
    if w1.real < 0.0:
        w1, _la, _inv = _vol_at(sigc, lv0)
    pi1 = ph + k2 * w1 * (1.0 - w1)
    ipi1 = 1.0 / pi1
    mu1 = mh + (0.5 * kap * w1 * ipi1) * dl
    # second expansion at x* = mh + (W0(beta h e^(h - lv0)) - h) / kappa, h = kappa^2/(2 ph)
    h = k2 * sp
    hl = h - lv0
    hE = h * np.exp(hl)
    z = beta * hE
    if not (z.real >= ZMIN_FAST and z.real < ZMAX_FAST and hl.real < 700.0):
        pp, var, mean = _robust_careful(mh, ph, sp, kap, ikap, lv0, w1, sigc, beta, dl)
        return pp, var, mean, False
    wl = _w0z_table(z)
    shift = wl - h
    dxs = shift * ikap  # x* - mh
    # v(x*) = e^(lv0 + W - h) = beta h / W, since W e^W = beta h e^(h - lv0), so with
    # D = sigma W + beta h:  w2 = v/(sigma + v) = beta h / D, 1/(sigma + v) = W / D,
    # Delta2 = beta W / D - 1 = P / D,  pi2 = ph + k2 w2 (w2 + (2 w2 - 1) Delta2)
    # = (ph D^3 + k2 beta h (beta h D + (2 beta h - D) P)) / D^3: one division for
    # 1/pi2 and the Newton step from x* (instead of two in series)
    bh = beta * h
    D = sigc * wl + bh
    D3 = D * D * D
    P = wl * (beta - sigc) - bh
    den = ph * D3 + k2 * bh * (bh * D + (2.0 * bh - D) * P)  # = pi2 D^3
    q = 1.0 / den
    ipi2 = D3 * q
    step = (0.5 * kap * bh * P * D - ph * dxs * D3) * q  # Newton step from x*
    d2 = dxs + step
    mu2 = mh + d2
    # variational energy difference I(mu2) - I(mu1) and the mixture weight:
    # I2 - I1 = -log(sb/sa)/2 - X, so e^(I1 - I2) = sqrt(sb/sa) e^X (a square root
    # replaces a logarithm)
    d1 = mu1 - mh
    sa = sigc + np.exp(lv0 + kap * d1)
    sb = sigc + np.exp((lv0 + shift) + kap * step)
    ia = 1.0 / sa
    ib = 1.0 / sb
    X = 0.5 * beta * (ib - ia) + 0.5 * ph * (d2 * d2 - d1 * d1)
    b = 1.0 / (1.0 + np.sqrt(sb * ia) * np.exp(X))
    if not (
        den.real > 0.0
        and _isfinite(den)
        and _isfinite(D3)
        and X.real < 700.0
        and X.real > -700.0
        and (lv0 + shift).real < 700.0
        and _isfinite(mu2)
        and _isfinite(sa)
        and _isfinite(sb)
    ):
        pp, var, mean = _robust_careful(mh, ph, sp, kap, ikap, lv0, w1, sigc, beta, dl)
        return pp, var, mean, False
    dm = mu1 - mu2
    rb = 1.0 - b
    var = rb * ipi1 + b * ipi2 + b * rb * dm * dm
    return 1.0 / var, var, rb * mu1 + b * mu2, False


@njit(cache=True, nogil=True, error_model="numpy")
def _settle(pp, inv, maxprec, nan, k, node, failed, status):
    r"""Failure check and precision cap of one posterior (fast path's rare branch).

    Called only when ``not (TINY < pp <= maxprec and isfinite(inv))``; ``inv`` is
    the posterior variance computed without dividing by ``pp``.  (Kept out of line:
    inlined, the compiler turns it into selects that put the check on the loop's
    critical path.)  A precision at or below 1e-128 is a failure (recorded in
    ``status`` if it is the first; the posterior becomes NaN), an overflowed
    variance is recomputed as ``1/pp``, a precision above ``maxprec`` is capped.

    Returns ``(pp, inv, failed_now)``.
    """
    if not (pp.real > TINY):
        if not failed:
            status[0] = FAIL_PRECISION
            status[1] = k
            status[2] = node
            status[3] = pp.real
        return nan, nan, True
    if not _isfinite(inv):  # the predicted variance overflowed
        inv = 1.0 / pp
    if pp.real > maxprec:
        pp = pp * 0.0 + maxprec
        inv = inv * 0.0 + 1.0 / maxprec
    return pp, inv, False


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _chain_core(
    inet,
    npar,
    epar,
    gpar,
    obs,
    resp,
    store,
    out_mean,
    out_prec,
    out_emean,
    out_eprec,
    out_surp,
    status,
):
    r"""Fast path of :func:`filter_core` for the standard chains.

    ``input <- c1`` (value coupling :math:`\alpha`) ``<- c2 <- c3`` (volatility
    couplings), with 1-3 continuous nodes and a continuous or binary input: the
    2/3-level continuous and binary HGFs.  Same equations, same order, same outputs as
    the general kernel (the tests compare them to rounding), but node states live in
    scalars (registers) instead of arrays indexed through the graph, which makes the
    loop several times faster.

    Levels 2 and 3 repeat the same few lines on purpose: factored into an inline
    helper, LLVM laid the loop out differently and the 3-level classic loop went
    from 42 to 55 ns per observation (robust 166 -> 175).  The compiled code is
    sensitive to such changes; time them (``benchmarks/hgf/run.py``).
    """
    nc = inet[H_CHAIN]
    iu, i1, i2, i3 = inet[H_CIDX], inet[H_CIDX + 1], inet[H_CIDX + 2], inet[H_CIDX + 3]
    ea, ek1, ek2 = inet[H_CIDX + 4], inet[H_CIDX + 5], inet[H_CIDX + 6]
    upd_kind = inet[H_UPDATE]
    pyhgf = inet[H_PRED] == PYHGF
    fail_nan = inet[H_FAIL] == NAN
    resp_on = inet[H_RESP] == RESP_BINARY_SOFTMAX
    kind = inet[inet[H_OFF + B_KIND] : inet[H_OFF + B_KIND + 1]]
    binary = kind[iu] == INPUT_BIN

    t = gpar[G_TIME]
    logt = np.log(t)
    zeta = gpar[G_ZETA]
    eps = gpar[G_EPS].real
    maxprec = gpar[G_MAXPREC].real
    zero = t * 0.0
    nan = zero + np.nan

    alpha = epar[ea]
    pu = npar[iu, INPUT_PREC]
    vu = 1.0 / pu
    # level 1
    m1 = npar[i1, MEAN0]
    p1 = npar[i1, PREC0]
    v1 = 1.0 / p1
    om1, rho1, lam1 = npar[i1, OMEGA], npar[i1, RHO], npar[i1, LAMBDA]
    # level 2 (dummies when absent)
    m2 = zero
    p2 = zero + 1.0
    om2 = zero
    rho2 = zero
    lam2 = zero
    k1 = zero
    if nc >= 2:
        m2 = npar[i2, MEAN0]
        p2 = npar[i2, PREC0]
        om2, rho2, lam2 = npar[i2, OMEGA], npar[i2, RHO], npar[i2, LAMBDA]
        k1 = epar[ek1]
    ik1 = 1.0 / k1 if nc >= 2 else zero
    v2 = 1.0 / p2
    m3 = zero
    p3 = zero + 1.0
    om3 = zero
    rho3 = zero
    lam3 = zero
    k2 = zero
    if nc >= 3:
        m3 = npar[i3, MEAN0]
        p3 = npar[i3, PREC0]
        om3, rho3, lam3 = npar[i3, OMEGA], npar[i3, RHO], npar[i3, LAMBDA]
        k2 = epar[ek2]
    ik2 = 1.0 / k2 if nc >= 3 else zero
    v3 = 1.0 / p3
    # the top node's volatility is constant
    if nc == 1:
        oc = np.exp(logt + om1)
    elif nc == 2:
        oc = np.exp(logt + om2)
    else:
        oc = np.exp(logt + om3)
    if not (oc.real > TINY):
        status[0] = FAIL_VOLATILITY
        status[1] = 0
        status[2] = i1 if nc == 1 else (i2 if nc == 2 else i3)
        status[3] = oc.real
        return zero, zero

    total = zero
    rtotal = zero
    status[0] = OK
    failed = False
    mh1 = mh2 = mh3 = zero
    o2 = oc  # the (valid) top-node volatility stands in when x2's is not predicted
    lv1 = zero
    ph1 = ph2 = ph3 = zero + 1.0
    sp1 = sp2 = sp3 = zero + 1.0
    muh = zero
    puh = zero + 1.0
    for k in range(obs.shape[0]):
        # ---------------------------------------------------------- predictions
        # (sp* are the predicted variances 1/ph*: most of the arithmetic below uses
        # them, so that few divisions lie on the loop's dependency chain)
        if nc >= 3:
            mh3 = lam3 * m3 + t * rho3
            sp3 = v3 + oc
            ph3 = 1.0 / sp3
        if nc >= 2:
            mh2 = lam2 * m2 + t * rho2
            if nc >= 3:
                lv2 = logt + om2 + k2 * m3
                if pyhgf:
                    o2 = np.exp(lv2 + 0.5 * k2 * k2 * sp3)
                else:
                    o2 = np.exp(lv2)
            else:
                lv2 = logt + om2
                o2 = oc
            s2 = v2 if v2.real > TINY else zero + TINY
            sp2 = v2 + o2
            ph2 = 1.0 / sp2
        mh1 = lam1 * m1 + t * rho1
        if nc >= 2:
            lv1 = logt + om1 + k1 * m2
            if pyhgf:
                o1 = np.exp(lv1 + 0.5 * k1 * k1 * sp2)
            else:
                o1 = np.exp(lv1)
        else:
            o1 = oc
        s1 = v1 if v1.real > TINY else zero + TINY
        sp1 = v1 + o1
        ph1 = 1.0 / sp1
        if not (o1.real > TINY and o2.real > TINY):
            # cold path (kept out of the arithmetic above, which it would slow down 2x):
            # a predicted volatility underflowed; pyhgf maps it to NaN
            fk = -1
            fv = 0.0
            if not (o2.real > TINY):
                fk = i2
                fv = o2.real
                o2 = nan
                sp2 = v2 + o2
                ph2 = 1.0 / sp2
                if pyhgf:
                    o1 = np.exp(lv1 + 0.5 * k1 * k1 * sp2)
            if not (o1.real > TINY):
                if fk < 0:
                    fk = i1
                    fv = o1.real
                o1 = nan
            sp1 = v1 + o1
            ph1 = 1.0 / sp1
            if not failed:
                failed = True
                status[0] = FAIL_VOLATILITY
                status[1] = k
                status[2] = fk
                status[3] = fv
            if not fail_nan:
                return total, rtotal
        if binary:
            mb = _sigmoid(alpha * mh1)
            if mb.real < eps:
                mb = zero + eps
            elif mb.real > 1.0 - eps:
                mb = zero + (1.0 - eps)
            muh = mb
            puh = 1.0 / (mb * (1.0 - mb))
        else:
            muh = alpha * mh1
            puh = 1.0 / (vu + alpha * alpha * sp1)

        # --------------------------------------------------------------- input
        u = obs[k, 0]
        surp = zero
        if u != u:
            # missing: every posterior is its prediction
            m1, p1, v1 = mh1, ph1, sp1
            m2, p2, v2 = mh2, ph2, sp2
            m3, p3, v3 = mh3, ph3, sp3
            um = nan
            up = nan
        else:
            um = zero + u
            if binary:
                up = zero + np.inf
                if u > 0.5:
                    surp = -np.log(muh)
                else:
                    surp = -np.log(1.0 - muh)
                pc = muh * (1.0 - muh)
                num = alpha * (u - muh)
                if resp_on:
                    y = resp[k]
                    if y == y:
                        zl = zeta * (np.log(muh) - np.log(1.0 - muh))
                        if y > 0.5:
                            rtotal += _log1pexp(-zl)
                        else:
                            rtotal += _log1pexp(zl)
            else:
                up = pu
                d = u - muh
                surp = 0.5 * (LOG2PI - np.log(puh) + puh * d * d)
                pc = pu
                num = alpha * pu * d
            # ------------------------------------------------------- level 1
            a2pc = alpha * alpha * pc
            pp = ph1 + a2pc
            inv = sp1 / (1.0 + a2pc * sp1)  # = 1/pp without waiting for pp
            if not (pp.real > TINY and pp.real <= maxprec and _isfinite(inv)):
                pp, inv, bad = _settle(pp, inv, maxprec, nan, k, i1, failed, status)
                if bad:
                    failed = True
                    if not fail_nan:
                        return total, rtotal
            m1 = mh1 + num * inv
            p1 = pp
            v1 = inv
            # ------------------------------------------------------- level 2
            if nc >= 2:
                d = m1 - mh1
                beta = v1 + d * d
                # the child's volatility at the parent's prediction is Omega_1 itself in
                # the mean-field random walk (no drift): skip one exponential
                g = o1 * ph1
                w1 = g if (mh2 == m2 and not pyhgf) else zero - 1.0
                pp, inv, x, mean_after = _vol_single(
                    upd_kind,
                    mh2,
                    ph2,
                    sp2,
                    k1,
                    ik1,
                    lv1 + k1 * (mh2 - m2),
                    w1,
                    s1,
                    beta,
                    g,
                    ph1 * beta - 1.0,
                    1,
                )
                if not (pp.real > TINY and pp.real <= maxprec and _isfinite(inv)):
                    pp, inv, bad = _settle(pp, inv, maxprec, nan, k, i2, failed, status)
                    if bad:
                        failed = True
                        if not fail_nan:
                            return total, rtotal
                m2 = mh2 + x * inv if mean_after else x
                p2 = pp
                v2 = inv
                # --------------------------------------------------- level 3
                if nc >= 3:
                    d = m2 - mh2
                    beta = v2 + d * d
                    g = o2 * ph2
                    w1 = g if (mh3 == m3 and not pyhgf) else zero - 1.0
                    pp, inv, x, mean_after = _vol_single(
                        upd_kind,
                        mh3,
                        ph3,
                        sp3,
                        k2,
                        ik2,
                        lv2 + k2 * (mh3 - m3),
                        w1,
                        s2,
                        beta,
                        g,
                        ph2 * beta - 1.0,
                        1,
                    )
                    if not (pp.real > TINY and pp.real <= maxprec and _isfinite(inv)):
                        pp, inv, bad = _settle(pp, inv, maxprec, nan, k, i3, failed, status)
                        if bad:
                            failed = True
                            if not fail_nan:
                                return total, rtotal
                    m3 = mh3 + x * inv if mean_after else x
                    p3 = pp
                    v3 = inv
        total += surp
        if store != 0:
            out_mean[k, iu] = um
            out_prec[k, iu] = up
            out_emean[k, iu] = muh
            out_eprec[k, iu] = puh
            out_mean[k, i1] = m1
            out_prec[k, i1] = p1
            out_emean[k, i1] = mh1
            out_eprec[k, i1] = ph1
            if nc >= 2:
                out_mean[k, i2] = m2
                out_prec[k, i2] = p2
                out_emean[k, i2] = mh2
                out_eprec[k, i2] = ph2
            if nc >= 3:
                out_mean[k, i3] = m3
                out_prec[k, i3] = p3
                out_emean[k, i3] = mh3
                out_eprec[k, i3] = ph3
            out_surp[k] = surp
    return total, rtotal


def _core_signature(T):
    return types.Tuple((T, T))(
        int64[::1],
        T[:, ::1],
        T[::1],
        T[::1],
        float64[:, ::1],
        float64[::1],
        int64,
        T[:, ::1],
        T[:, ::1],
        T[:, ::1],
        T[:, ::1],
        T[::1],
        float64[::1],
    )


@njit(
    [_core_signature(float64), _core_signature(complex128)],
    cache=True,
    nogil=True,
    error_model="numpy",
)
def filter_core(
    inet,
    npar,
    epar,
    gpar,
    obs,
    resp,
    store,
    out_mean,
    out_prec,
    out_emean,
    out_eprec,
    out_surp,
    status,
):
    r"""Run an HGF network over ``obs`` (time x inputs); return total surprises.

    Parameters
    ----------
    inet, npar, epar, gpar
        The network (module docstring).
    obs : ndarray of shape (n_time, n_inputs)
        Observations; NaN = missing (only with ``missing=skip``, else checked in Python).
    resp : ndarray of shape (n_time,) or (0,)
        Binary responses for the response model (NaN = no response).
    store : int
        1 to write the trajectories into the ``out_*`` arrays (each of shape
        ``(n_time, n_nodes)``; ``out_surp`` of shape ``(n_time,)``), 0 to skip them
        (then the outputs may have zero rows).
    status : ndarray of shape (4,)
        Out: ``[code, step, node, value]``; code 0 = success, 1 = posterior
        precision at or below 1e-128 (``value`` = the raw precision), 2 = predicted
        volatility at or below 1e-128.  With ``on_failure=raise`` the run stops at
        the first failure; with ``nan`` the value becomes NaN and the run goes on
        (pyhgf's behaviour), ``status`` recording the first failure.

    Returns
    -------
    (input_surprise, response_surprise)
        Sums over time of the observation surprise (predictive Gaussian with
        variance ``1/pi_hat_parent + 1/pi_u``, or Bernoulli) and of the response
        model's surprise.
    """
    if inet[H_CHAIN] > 0:
        return _chain_core(
            inet,
            npar,
            epar,
            gpar,
            obs,
            resp,
            store,
            out_mean,
            out_prec,
            out_emean,
            out_eprec,
            out_surp,
            status,
        )
    n = inet[H_N]
    nin = inet[H_NIN]
    upd_kind = inet[H_UPDATE]
    pred_kind = inet[H_PRED]
    val_kind = inet[H_VALUE]
    fail_kind = inet[H_FAIL]
    resp_kind = inet[H_RESP]
    nupd = inet[H_NUPD]
    resp_input = inet[H_RESP_INPUT]
    off = inet[H_OFF : H_OFF + NBLOCK + 1]
    kind = inet[off[B_KIND] : off[B_KIND + 1]]
    echild = inet[off[B_ECHILD] : off[B_ECHILD + 1]]
    eparent = inet[off[B_EPARENT] : off[B_EPARENT + 1]]
    pred_order = inet[off[B_PRED] : off[B_PRED + 1]]
    upd_order = inet[off[B_UPD] : off[B_UPD + 1]]
    inputs = inet[off[B_INPUTS] : off[B_INPUTS + 1]]
    vpar_ptr = inet[off[B_VPAR_PTR] : off[B_VPAR_PTR + 1]]
    vpar = inet[off[B_VPAR] : off[B_VPAR + 1]]
    wpar_ptr = inet[off[B_WPAR_PTR] : off[B_WPAR_PTR + 1]]
    wpar = inet[off[B_WPAR] : off[B_WPAR + 1]]
    vch_ptr = inet[off[B_VCH_PTR] : off[B_VCH_PTR + 1]]
    vch = inet[off[B_VCH] : off[B_VCH + 1]]
    wch_ptr = inet[off[B_WCH_PTR] : off[B_WCH_PTR + 1]]
    wch = inet[off[B_WCH] : off[B_WCH + 1]]

    t = gpar[G_TIME]
    logt = np.log(t)
    zeta = gpar[G_ZETA]
    eps = gpar[G_EPS].real
    maxprec = gpar[G_MAXPREC].real

    zero = gpar[G_TIME] * 0.0  # a zero of the kernel's scalar type (float or complex)
    mu = npar[:, MEAN0].copy()
    pi = npar[:, PREC0].copy()
    pvar = 1.0 / pi  # posterior variances 1/pi (saves divisions)
    muhat = npar[:, MEAN0].copy()
    pihat = npar[:, PREC0].copy()
    lvmf = np.zeros_like(mu)  # log t + omega + sum kappa mu_parent (mean-field part)
    omega_tot = np.zeros_like(mu)  # total predicted volatility Omega (incl. pyhgf term)
    sig = np.ones_like(mu)  # previous posterior variance, floored at 1e-128
    informed = np.zeros(n, dtype=np.int64)
    om_const = np.exp(logt + npar[:, OMEGA])
    for a in range(n):
        if kind[a] == CONT and wpar_ptr[a] == wpar_ptr[a + 1] and not (om_const[a].real > TINY):
            status[0] = FAIL_VOLATILITY
            status[1] = 0
            status[2] = a
            status[3] = om_const[a].real
            return zero, zero

    total = zero
    rtotal = zero
    status[0] = OK
    failed = False
    nT = obs.shape[0]

    for k in range(nT):
        # ---------------------------------------------------------- predictions
        for ii in range(n):
            a = pred_order[ii]
            kd = kind[a]
            s = zero
            for p in range(vpar_ptr[a], vpar_ptr[a + 1]):
                e = vpar[p]
                s += epar[e] * muhat[eparent[e]]
            if kd == CONT:
                muhat[a] = npar[a, LAMBDA] * mu[a] + t * (npar[a, RHO] + s)
                lv = logt + npar[a, OMEGA]
                if wpar_ptr[a] == wpar_ptr[a + 1]:
                    # no volatility parent: constant volatility, no exponential per step
                    lvmf[a] = lv
                    omega_tot[a] = om_const[a]
                    sg = pvar[a]
                    sig[a] = sg if sg.real > TINY else sg * 0.0 + TINY
                    pihat[a] = 1.0 / (sg + om_const[a])
                    continue
                extra = zero
                for p in range(wpar_ptr[a], wpar_ptr[a + 1]):
                    e = wpar[p]
                    j = eparent[e]
                    kap = epar[e]
                    lv += kap * mu[j]
                    if pred_kind == PYHGF:
                        extra += kap * kap / (2.0 * pihat[j])
                lvmf[a] = lv
                om = np.exp(lv + extra)
                if not (om.real > TINY):
                    if not failed:
                        failed = True
                        status[0] = FAIL_VOLATILITY
                        status[1] = k
                        status[2] = a
                        status[3] = om.real
                    if fail_kind == RAISE:
                        return total, rtotal
                    om = om * np.nan
                omega_tot[a] = om
                sg = pvar[a]
                sig[a] = sg if sg.real > TINY else sg * 0.0 + TINY
                pihat[a] = 1.0 / (sg + om)
            elif kd == INPUT_CONT:
                muhat[a] = s
                var = 1.0 / npar[a, INPUT_PREC]
                for p in range(vpar_ptr[a], vpar_ptr[a + 1]):
                    e = vpar[p]
                    var += epar[e] * epar[e] / pihat[eparent[e]]
                pihat[a] = 1.0 / var
            else:  # INPUT_BIN
                m = _sigmoid(s)
                if m.real < eps:
                    m = m * 0.0 + eps
                elif m.real > 1.0 - eps:
                    m = m * 0.0 + (1.0 - eps)
                muhat[a] = m
                pihat[a] = 1.0 / (m * (1.0 - m))

        # --------------------------------------------------------------- inputs
        surp = zero
        for i in range(nin):
            a = inputs[i]
            u = obs[k, i]
            if u != u:
                informed[a] = 0
                mu[a] = zero + np.nan
                pi[a] = zero + np.nan
                pvar[a] = zero + np.nan
                continue
            informed[a] = 1
            mu[a] = zero + u
            if kind[a] == INPUT_CONT:
                pi[a] = npar[a, INPUT_PREC]
                pvar[a] = 1.0 / pi[a]
                d = u - muhat[a]
                surp += 0.5 * (LOG2PI - np.log(pihat[a]) + pihat[a] * d * d)
            elif kind[a] == INPUT_BIN:
                m = muhat[a]
                pi[a] = zero + np.inf
                pvar[a] = zero
                if u > 0.5:
                    surp -= np.log(m)
                else:
                    surp -= np.log(1.0 - m)
            else:
                # noisy binary input (Mathys 2014, eq. 39): u ~ N(eta_x, 1/pi_u), x ~ B(m);
                # posterior P(x = 1 | u) = sigmoid(logit m + log N(u; eta1) - log N(u; eta0))
                m = muhat[a]
                pu = npar[a, INPUT_PREC]
                d1 = u - npar[a, ETA1]
                d0 = u - npar[a, ETA0]
                l1 = np.log(m) - 0.5 * pu * d1 * d1
                l0 = np.log(1.0 - m) - 0.5 * pu * d0 * d0
                post = _sigmoid(l1 - l0)
                mu[a] = post
                pi[a] = 1.0 / (post * (1.0 - post))
                pvar[a] = post * (1.0 - post)
                surp -= _logaddexp(l1, l0) + 0.5 * (np.log(pu) - LOG2PI)
            if resp_kind == RESP_BINARY_SOFTMAX and i == resp_input:
                y = resp[k]
                if y == y:
                    # P(y=1) = m^z / (m^z + (1-m)^z) = sigmoid(z * logit(m))
                    m = muhat[a]
                    zl = zeta * (np.log(m) - np.log(1.0 - m))
                    if y > 0.5:
                        rtotal += _log1pexp(-zl)
                    else:
                        rtotal += _log1pexp(zl)
        total += surp

        # -------------------------------------------------------------- updates
        for ii in range(nupd):
            j = upd_order[ii]
            p0 = pihat[j]
            num = zero
            nval = 0
            for p in range(vch_ptr[j], vch_ptr[j + 1]):
                e = vch[p]
                c = echild[e]
                if informed[c] == 0:
                    continue
                nval += 1
                al = epar[e]
                nvp = vpar_ptr[c + 1] - vpar_ptr[c]
                kc = kind[c]
                if kc == INPUT_CONT:
                    pc = pi[c]
                    d = (mu[c] - muhat[c]) / nvp
                elif kc == INPUT_BIN or kc == INPUT_BIN_NOISY:
                    pc = muhat[c] * (1.0 - muhat[c])
                    d = (mu[c] - muhat[c]) / pc / nvp
                else:
                    pc = pihat[c]
                    if val_kind == SMOOTHED:
                        py = pi[c] - pihat[c]
                        pc = pihat[c] * py / (pihat[c] + py)
                    d = (mu[c] - muhat[c]) / nvp
                p0 += al * al * pc
                num += al * pc * d
            nvol = 0
            for p in range(wch_ptr[j], wch_ptr[j + 1]):
                if informed[echild[wch[p]]] != 0:
                    nvol += 1
            if nval == 0 and nvol == 0:
                # no information reached this node: the posterior is the prediction
                informed[j] = 0
                mu[j] = muhat[j]
                pi[j] = pihat[j]
                pvar[j] = 1.0 / pihat[j]
                continue
            informed[j] = 1
            muj_prev = mu[j]

            if nvol == 1 and nval == 0:
                # the standard case: one volatility child, no value child
                e = -1
                for p in range(wch_ptr[j], wch_ptr[j + 1]):
                    if informed[echild[wch[p]]] != 0:
                        e = wch[p]
                a = echild[e]
                kap = epar[e]
                d = mu[a] - muhat[a]
                beta = pvar[a] + d * d
                pp, _var, x, mean_after = _vol_single(
                    upd_kind,
                    muhat[j],
                    p0,
                    1.0 / p0,
                    kap,
                    1.0 / kap,
                    lvmf[a] + kap * (muhat[j] - muj_prev),
                    zero - 1.0,
                    sig[a],
                    beta,
                    omega_tot[a] * pihat[a],
                    pihat[a] * beta - 1.0,
                    wpar_ptr[a + 1] - wpar_ptr[a],
                )
                if mean_after:
                    num = x
                    newmu = muhat[j]
                else:
                    newmu = x
            elif nvol == 0:
                pp = p0
                newmu = muhat[j] + num / pp
                mean_after = True
            elif upd_kind == CLASSIC or upd_kind == EHGF:
                pp = p0
                acc = zero
                for p in range(wch_ptr[j], wch_ptr[j + 1]):
                    e = wch[p]
                    a = echild[e]
                    if informed[a] == 0:
                        continue
                    kap = epar[e]
                    nwp = wpar_ptr[a + 1] - wpar_ptr[a]
                    g = omega_tot[a] * pihat[a]
                    d = mu[a] - muhat[a]
                    dl = (pihat[a] / pi[a] + pihat[a] * d * d - 1.0) / nwp
                    acc += 0.5 * kap * g * dl
                    if upd_kind == CLASSIC:
                        pp += 0.5 * kap * kap * g * (g + (2.0 * g - 1.0) * dl)
                if upd_kind == CLASSIC:
                    newmu = muhat[j] + (num + acc) / pp  # recomputed below after checks
                    num = num + acc
                    mean_after = True
                else:
                    # eHGF: mean first with the prior precision, then the curvature there
                    newmu = muhat[j] + (num + acc) / p0
                    mean_after = False
                    for p in range(wch_ptr[j], wch_ptr[j + 1]):
                        e = wch[p]
                        a = echild[e]
                        if informed[a] == 0:
                            continue
                        kap = epar[e]
                        nwp = wpar_ptr[a + 1] - wpar_ptr[a]
                        om2 = np.exp(lvmf[a] + kap * (newmu - muj_prev))
                        ph2 = 1.0 / (sig[a] + om2)
                        g2 = om2 * ph2
                        w2 = (om2 - sig[a]) * ph2
                        d = mu[a] - muhat[a]
                        dl2 = ((pvar[a] + d * d) * ph2 - 1.0) / nwp
                        term = 0.5 * kap * kap * g2 * (g2 + w2 * dl2)
                        if term.real > 0.0:
                            pp += term
                        elif not (term.real <= 0.0):  # NaN propagates
                            pp += term
            else:
                # ------------------------------------------- robust (Lambert W)
                mean_after = False
                m0 = muhat[j] + num / p0
                pi1 = p0
                gsum = zero
                best = -np.inf
                estar = -1
                for p in range(wch_ptr[j], wch_ptr[j + 1]):
                    e = wch[p]
                    a = echild[e]
                    if informed[a] == 0:
                        continue
                    kap = epar[e]
                    l0 = lvmf[a] + kap * (m0 - muj_prev)
                    ls = np.log(sig[a])
                    w = _sigmoid(l0 - ls)
                    d = mu[a] - muhat[a]
                    beta = pvar[a] + d * d
                    if nval == 0:
                        dl = pihat[a] * beta - 1.0
                    else:
                        dl = beta * np.exp(-_logaddexp(ls, l0)) - 1.0
                    pi1 += 0.5 * kap * kap * w * (1.0 - w)
                    gsum += 0.5 * kap * w * dl
                    if dl.real > best or estar < 0:
                        best = dl.real
                        estar = e
                mu1 = m0 + gsum / pi1
                # expansion 2 at the Lambert-W mode of the child with the largest PE
                a = echild[estar]
                kap = epar[estar]
                d = mu[a] - muhat[a]
                beta = pvar[a] + d * d
                q = p0 / (kap * kap)
                gc = lvmf[a] + kap * (m0 - muj_prev)
                logarg = np.log(beta) - np.log(2.0 * q) + 1.0 / (2.0 * q) - gc
                wl = _w0log(logarg)
                xs = m0 + (wl - 1.0 / (2.0 * q)) / kap
                pi2 = p0
                pi2b = p0
                g2 = zero
                for p in range(wch_ptr[j], wch_ptr[j + 1]):
                    e = wch[p]
                    a = echild[e]
                    if informed[a] == 0:
                        continue
                    kap = epar[e]
                    d = mu[a] - muhat[a]
                    beta = pvar[a] + d * d
                    ls = np.log(sig[a])
                    L = lvmf[a] + kap * (xs - muj_prev)
                    w2 = _sigmoid(L - ls)
                    dl2 = beta * np.exp(-_logaddexp(ls, L)) - 1.0
                    pi2 += 0.5 * kap * kap * w2 * (w2 + (2.0 * w2 - 1.0) * dl2)
                    pi2b += 0.5 * kap * kap * w2 * (1.0 - w2)
                    g2 += 0.5 * kap * w2 * dl2
                if not (pi2.real > 0.0):
                    pi2 = pi2b
                mu2 = xs + (g2 - p0 * (xs - m0)) / pi2
                if not (_isfinite(pi2) and _isfinite(mu2)):
                    pi2 = pi1
                    mu2 = mu1
                # variational energies at the two means
                en1 = -0.5 * p0 * (mu1 - m0) * (mu1 - m0)
                en2 = -0.5 * p0 * (mu2 - m0) * (mu2 - m0)
                for p in range(wch_ptr[j], wch_ptr[j + 1]):
                    e = wch[p]
                    a = echild[e]
                    if informed[a] == 0:
                        continue
                    kap = epar[e]
                    d = mu[a] - muhat[a]
                    beta = pvar[a] + d * d
                    ls = np.log(sig[a])
                    la1 = _logaddexp(ls, lvmf[a] + kap * (mu1 - muj_prev))
                    la2 = _logaddexp(ls, lvmf[a] + kap * (mu2 - muj_prev))
                    en1 += -0.5 * la1 - 0.5 * beta * np.exp(-la1)
                    en2 += -0.5 * la2 - 0.5 * beta * np.exp(-la2)
                b = _sigmoid(en2 - en1)
                newmu = (1.0 - b) * mu1 + b * mu2
                dm = mu1 - mu2
                pp = 1.0 / ((1.0 - b) / pi1 + b / pi2 + b * (1.0 - b) * dm * dm)

            # ------------------------------------------ failure check, cap, mean
            if not (pp.real > TINY):
                if not failed:
                    failed = True
                    status[0] = FAIL_PRECISION
                    status[1] = k
                    status[2] = j
                    status[3] = pp.real
                if fail_kind == RAISE:
                    return total, rtotal
                pp = pp * np.nan
            if pp.real > maxprec:
                pp = pp * 0.0 + maxprec
            inv = 1.0 / pp
            if mean_after:
                newmu = muhat[j] + num * inv
            pi[j] = pp
            pvar[j] = inv
            mu[j] = newmu

        # ---------------------------------------------------------------- store
        if store != 0:
            for a in range(n):
                out_mean[k, a] = mu[a]
                out_prec[k, a] = pi[a]
                out_emean[k, a] = muhat[a]
                out_eprec[k, a] = pihat[a]
            out_surp[k] = surp
    return total, rtotal


@njit(
    float64[::1](
        int64[::1], float64[:, :, ::1], float64[:, ::1], float64[::1], float64[:, ::1], float64[::1]
    ),
    cache=True,
    parallel=True,
    error_model="numpy",
)
def batch_loglik(inet, npar_batch, epar_batch, gpar, obs, resp):
    """Minus the total surprise (inputs + responses) for many parameter sets, in parallel.

    ``npar_batch`` has shape ``(n_sets, n_nodes, NP)``, ``epar_batch`` ``(n_sets, E)``.
    Failed runs (non-positive precision) give ``-inf``.
    """
    nb = npar_batch.shape[0]
    out = np.empty(nb)
    n = npar_batch.shape[1]
    for b in prange(nb):
        empty2 = np.empty((0, n))
        empty1 = np.empty(0)
        status = np.zeros(4)
        s_in, s_resp = filter_core(
            inet,
            npar_batch[b],
            epar_batch[b],
            gpar,
            obs,
            resp,
            0,
            empty2,
            empty2,
            empty2,
            empty2,
            empty1,
            status,
        )
        v = -(s_in + s_resp)
        if status[0] != OK or not np.isfinite(v):
            v = -np.inf
        out[b] = v
    return out


@njit(
    types.UniTuple(float64[::1], 2)(
        int64, float64[::1], float64[::1], float64[::1], float64[::1], float64[::1], float64[::1]
    ),
    cache=True,
    nogil=True,
    error_model="numpy",
)
def single_update(upd, mu_hat, pi_hat, kappa, omega, alpha, beta):
    r"""Posterior of a parent with one volatility child, vectorised over cases.

    Mean-field prediction, time step 1: :math:`v = e^{\kappa\hat\mu + \omega}`,
    :math:`\hat\pi_a = 1/(\alpha + v)`, :math:`\gamma = v\hat\pi_a`,
    :math:`\Delta = \hat\pi_a\beta - 1`; then the ``upd`` update (CLASSIC, EHGF or
    ROBUST) as in the network kernel.  Arrays of equal length; returns
    ``(mu, pi)`` (classic precisions are returned raw, possibly negative).
    """
    n = mu_hat.shape[0]
    mu = np.empty(n)
    pi = np.empty(n)
    for i in range(n):
        sigc = alpha[i] if alpha[i] > TINY else TINY
        lv0 = kappa[i] * mu_hat[i] + omega[i]
        v = np.exp(lv0)
        ph_c = 1.0 / (alpha[i] + v)
        pp, _var, x, mean_after = _vol_single(
            upd,
            mu_hat[i],
            pi_hat[i],
            1.0 / pi_hat[i],
            kappa[i],
            1.0 / kappa[i],
            lv0,
            -1.0,
            sigc,
            beta[i],
            v * ph_c,
            ph_c * beta[i] - 1.0,
            1,
        )
        pi[i] = pp
        mu[i] = mu_hat[i] + x / pp if mean_after else x
    return mu, pi
