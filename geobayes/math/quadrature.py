"""Quadrature rules for the standard Gaussian ``N(0, I_d)``.

Each rule returns nodes ``z`` of shape ``(Q, d)`` and weights ``omega`` of shape ``(Q,)``
summing to one, so that ``E f(Z) ~ sum_q omega_q f(z_q)``.  The radial part of the two
spherical rules is the ``n_radial``-point generalized Gauss-Laguerre rule with parameter
``alpha = d/2 - 1`` (``|Z|^2 / 2 ~ Gamma(d/2, 1)``), nodes ``r_k``, points at radius
``sqrt(2 r_k)``; it integrates ``|z|^(2m)`` exactly for ``m <= 2 n_radial - 1``.

* :func:`axes_rule` (MSIP's default inner rule, spec §1.12): the ``2d`` directions
  ``+-e_i`` times the radial rule, ``2 d n_radial`` nodes.  Symmetric, deterministic,
  exact for every polynomial of degree <= 3 (not for ``z_i^4``).
* :func:`spherical_rule`: ``n_directions`` directions uniform on the sphere times the
  radial rule; exact for radial integrands only.
* :func:`mc_rule`: ``Q`` standard normal draws (optionally antithetic pairs), equal weights.

Examples
--------
>>> import numpy as np
>>> z, w = axes_rule(3, 3)
>>> z.shape, round(float(w.sum()), 12)
((18, 3), 1.0)
>>> round(float(w @ (z**2).sum(axis=1)), 10)  # E|Z|^2 = d
3.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["radial_rule", "axes_rule", "spherical_rule", "mc_rule"]


def radial_rule(d: int, n_radial: int) -> tuple[np.ndarray, np.ndarray]:
    """Radii ``sqrt(2 r_k)`` and normalized weights of the generalized Gauss-Laguerre rule."""
    if n_radial < 1:
        raise ValueError(f"n_radial must be >= 1, got {n_radial}")
    alpha = 0.5 * d - 1.0
    from scipy.special import gammaln, roots_genlaguerre  # on first use: scipy is slow to import

    r, lam = roots_genlaguerre(n_radial, alpha)
    lam = lam / np.exp(gammaln(alpha + 1.0))  # weight function x^alpha e^-x has mass Gamma(alpha+1)
    lam = lam / lam.sum()  # remove the last rounding
    return np.sqrt(2.0 * r), lam


def axes_rule(d: int, n_radial: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``+-e_i`` directions times the radial rule (``2 d n_radial`` nodes, degree 3)."""
    rad, lam = radial_rule(d, n_radial)
    dirs = np.concatenate([np.eye(d), -np.eye(d)])
    z = (dirs[None, :, :] * rad[:, None, None]).reshape(-1, d)
    w = np.repeat(lam / (2 * d), 2 * d)
    return np.ascontiguousarray(z), w


def spherical_rule(
    d: int, n_directions: int, n_radial: int = 3, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random unit directions times the radial rule (exact for radial integrands only)."""
    rng = np.random.default_rng(rng)
    u = rng.standard_normal((n_directions, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    rad, lam = radial_rule(d, n_radial)
    z = (u[None, :, :] * rad[:, None, None]).reshape(-1, d)
    w = np.repeat(lam / n_directions, n_directions)
    return np.ascontiguousarray(z), w


def mc_rule(
    d: int, n_nodes: int, rng: np.random.Generator | None = None, antithetic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``n_nodes`` standard normal draws with equal weights (``+-z`` pairs if antithetic)."""
    rng = np.random.default_rng(rng)
    if antithetic:
        half = rng.standard_normal(((n_nodes + 1) // 2, d))
        z = np.concatenate([half, -half])[:n_nodes]
    else:
        z = rng.standard_normal((n_nodes, d))
    return np.ascontiguousarray(z), np.full(n_nodes, 1.0 / n_nodes)
