"""Slow, obvious NumPy versions of the sampler steps (same noise in, same result out).

``inv_mass`` is a diagonal (1-D) or a full matrix (2-D, dense metric): ``C = M^-1``.
"""

import numpy as np


def _as_matrix(inv_mass):
    inv_mass = np.asarray(inv_mass, dtype=float)
    return np.diag(inv_mass) if inv_mass.ndim == 1 else inv_mass


def mala_step(x, lp, g, z, u, logdensity_and_grad, eps, inv_mass):
    c = _as_matrix(inv_mass)
    chol = np.linalg.cholesky(c)
    prec = np.linalg.inv(c)
    mean_fwd = x + 0.5 * eps**2 * c @ g
    y = mean_fwd + eps * chol @ z
    lpy, gy = logdensity_and_grad(y)
    mean_bwd = y + 0.5 * eps**2 * c @ gy
    log_q_fwd = -((y - mean_fwd) @ prec @ (y - mean_fwd)) / (2 * eps**2)
    log_q_bwd = -((x - mean_bwd) @ prec @ (x - mean_bwd)) / (2 * eps**2)
    log_ratio = lpy - lp + log_q_bwd - log_q_fwd
    if np.log(u) < log_ratio:
        return y, lpy, gy, min(1.0, np.exp(log_ratio)), True
    return x, lp, g, min(1.0, np.exp(log_ratio)), False


def hmc_step(x, lp, g, z, u, u_jitter, logdensity_and_grad, eps, inv_mass, time, max_leap):
    n = int(max(1, min(round(time / eps * (0.5 + u_jitter)), max_leap)))
    c = _as_matrix(inv_mass)
    p = np.linalg.solve(np.linalg.cholesky(c).T, z)  # p ~ N(0, M) with M = C^-1
    h0 = -lp + 0.5 * p @ c @ p
    xn, gn, lpn = x.copy(), g, lp
    for _ in range(n):
        p = p + 0.5 * eps * gn
        xn = xn + eps * c @ p
        lpn, gn = logdensity_and_grad(xn)
        p = p + 0.5 * eps * gn
    h1 = -lpn + 0.5 * p @ c @ p
    acc = min(1.0, np.exp(h0 - h1))
    if np.log(u) < h0 - h1:
        return xn, lpn, gn, acc, True, n
    return x, lp, g, acc, False, n


def nuts_step(x, lp, g, rng, logdensity_and_grad, eps, inv_mass, max_depth=10, max_dh=1000.0):
    """Stan's multinomial NUTS transition (base_nuts.hpp, 2.21+), recursive, in plain NumPy.

    Momentum ``p = L^-T z`` with ``M^-1 = L L^T``; ``p_sharp = M^-1 p``.  Draws from
    ``rng`` exactly as Stan does (normals, then uniforms).  Returns
    ``(x, lp, g, stats)`` with stats a dict.
    """
    c = _as_matrix(inv_mass)
    chol = np.linalg.cholesky(c)
    d = x.shape[0]
    z = rng.standard_normal(d)
    p0 = np.linalg.solve(chol.T, z)

    def ham(lp_, p_):
        return -lp_ + 0.5 * p_ @ c @ p_

    state = {"x": x.copy(), "lp": lp, "g": g.copy(), "p": p0.copy()}
    h0 = ham(lp, p0)
    acc = {"n_leap": 0, "sum_metro": 0.0, "divergent": False}

    def crit(ps_minus, ps_plus, rho):
        return ps_plus @ rho > 0 and ps_minus @ rho > 0

    def logaddexp(a, b):
        return np.logaddexp(a, b)

    def build_tree(depth, z, sign):
        """Returns (valid, propose, ps_beg, ps_end, rho, p_beg, p_end, lsw); ``z`` moves."""
        if depth == 0:
            e = sign * eps
            p = z["p"] + 0.5 * e * z["g"]
            xn = z["x"] + e * c @ p
            lpn, gn = logdensity_and_grad(xn)
            gn = np.asarray(gn, dtype=float)
            p = p + 0.5 * e * gn
            z.update(x=xn, lp=lpn, g=gn, p=p)
            acc["n_leap"] += 1
            with np.errstate(invalid="ignore", over="ignore"):
                h = ham(lpn, p) if np.isfinite(lpn) and np.all(np.isfinite(gn)) else np.inf
            if np.isnan(h):
                h = np.inf
            if h - h0 > max_dh:
                acc["divergent"] = True
            acc["sum_metro"] += 1.0 if h0 - h > 0 else np.exp(h0 - h)
            prop = dict(z, h=h)
            ps = c @ p
            return (not acc["divergent"], prop, ps, ps, p.copy(), p, p, h0 - h)
        ok, prop, ps_beg, ps_init_end, rho_init, p_beg, p_init_end, lsw_init = build_tree(
            depth - 1, z, sign
        )
        if not ok:
            return (False,) + (None,) * 7
        ok, prop_f, ps_final_beg, ps_end, rho_final, p_final_beg, p_end, lsw_final = build_tree(
            depth - 1, z, sign
        )
        if not ok:
            return (False,) + (None,) * 7
        lsw_sub = logaddexp(lsw_init, lsw_final)
        if lsw_final > lsw_sub:
            prop = prop_f
        elif rng.random() < np.exp(lsw_final - lsw_sub):
            prop = prop_f
        rho_sub = rho_init + rho_final
        persist = crit(ps_beg, ps_end, rho_sub)
        persist &= crit(ps_beg, ps_final_beg, rho_init + p_final_beg)
        persist &= crit(ps_init_end, ps_end, rho_final + p_init_end)
        return (persist, prop, ps_beg, ps_end, rho_sub, p_beg, p_end, lsw_sub)

    z_fwd = dict(state)
    z_bck = dict(state)
    sample = dict(state, h=h0)
    ps0 = c @ p0
    p_fb = p_bf = p0  # (Stan also keeps p at the outer ends; they are never read)
    ps_ff = ps_fb = ps_bf = ps_bb = ps0
    rho = p0.copy()
    lsw = 0.0
    depth = 0
    tree = []  # (direction, valid) per doubling
    while depth < max_depth:
        rho_fwd = np.zeros(d)
        rho_bck = np.zeros(d)
        if rng.random() > 0.5:
            z = dict(z_fwd)
            rho_bck = rho
            p_bf, ps_bf = p_fb, ps_fb
            valid, prop, ps_fb_n, ps_ff_n, rho_fwd_n, p_fb_n, _, lsw_sub = build_tree(depth, z, 1.0)
            z_fwd = z
            if valid:
                ps_fb, ps_ff, rho_fwd, p_fb = ps_fb_n, ps_ff_n, rho_fwd_n, p_fb_n
            tree.append((1, valid))
        else:
            z = dict(z_bck)
            rho_fwd = rho
            p_fb, ps_fb = p_bf, ps_bf
            valid, prop, ps_bf_n, ps_bb_n, rho_bck_n, p_bf_n, _, lsw_sub = build_tree(
                depth, z, -1.0
            )
            z_bck = z
            if valid:
                ps_bf, ps_bb, rho_bck, p_bf = ps_bf_n, ps_bb_n, rho_bck_n, p_bf_n
            tree.append((-1, valid))
        if not valid:
            break
        depth += 1
        if lsw_sub > lsw:
            sample = prop
        elif rng.random() < np.exp(lsw_sub - lsw):
            sample = prop
        lsw = logaddexp(lsw, lsw_sub)
        rho = rho_bck + rho_fwd
        persist = crit(ps_bb, ps_ff, rho)
        persist &= crit(ps_bb, ps_fb, rho_bck + p_fb)
        persist &= crit(ps_bf, ps_ff, rho_fwd + p_bf)
        if not persist:
            break
    stats = {
        "acceptance_rate": acc["sum_metro"] / acc["n_leap"],
        "n_steps": acc["n_leap"],
        "diverging": acc["divergent"],
        "energy": sample["h"],
        "tree_depth": depth,
        "reached_max_treedepth": depth >= max_depth,
        "tree": tree,
    }
    return sample["x"], sample["lp"], sample["g"], stats
