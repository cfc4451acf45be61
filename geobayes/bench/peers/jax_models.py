"""Targets written natively in JAX for the JAX peers (NumPyro, BlackJAX).

:func:`jax_logdensity` returns ``(logdensity(theta), how)`` on the same unconstrained
vector as the geobayes model (so ``model.constrain`` maps the peers' draws to the same
named quantities).  Native versions exist for Gaussians, Gaussian mixtures and eight
schools (centered and non-centered); registered in :data:`NATIVE` by the geobayes
model's jitted function, so a posteriordb model gets one by adding an entry.  Any other
model falls back to calling the geobayes Numba log density and gradient through
``jax.pure_callback`` (``how = "numba-callback"``; recorded in the results, and not a
like-for-like comparison of the peer).
"""

from __future__ import annotations

import numpy as np

__all__ = ["jax_logdensity", "NATIVE"]


def _gaussian(model):
    import jax.numpy as jnp

    mean = jnp.asarray(model.true_mean)
    prec = jnp.asarray(np.linalg.inv(model.true_cov))

    def logdensity(x):
        r = x - mean
        return -0.5 * r @ (prec @ r)

    return logdensity


def _mixture(model):
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    d, k = int(model.idata[0]), int(model.idata[1])
    f = model.fdata
    logw = jnp.asarray(f[:k])
    mu = jnp.asarray(f[k : k + k * d].reshape(k, d))
    sd = jnp.asarray(f[k + k * d : k + k * d + k])

    def logdensity(x):
        r = x[None, :] - mu
        comp = (
            logw
            - 0.5 * jnp.sum(r * r, axis=1) / sd**2
            - d * (jnp.log(sd) + 0.5 * jnp.log(2 * jnp.pi))
        )
        return logsumexp(comp)

    return logdensity


def _eight_schools(centered):
    def build(model):
        import jax.numpy as jnp
        from jax.scipy.stats import cauchy, norm

        j = int(model.idata[0])
        y = jnp.asarray(model.fdata[:j])
        sigma = jnp.asarray(model.fdata[j : 2 * j])

        def logdensity(x):
            mu, log_tau, z = x[0], x[1], x[2:]
            tau = jnp.exp(log_tau)
            lp = norm.logpdf(mu, 0.0, 5.0) + cauchy.logpdf(tau, 0.0, 5.0) + jnp.log(2.0)
            lp += log_tau
            if centered:
                lp += jnp.sum(norm.logpdf(z, mu, tau)) + jnp.sum(norm.logpdf(y, z, sigma))
            else:
                lp += jnp.sum(norm.logpdf(z)) + jnp.sum(norm.logpdf(y, mu + tau * z, sigma))
            return lp

        return logdensity

    return build


def _native():
    from geobayes.models.eight_schools import centered_lpg, noncentered_lpg
    from geobayes.models.gaussian import gaussian_lpg
    from geobayes.models.mixture import mixture_lpg

    return {
        gaussian_lpg: _gaussian,
        mixture_lpg: _mixture,
        noncentered_lpg: _eight_schools(False),
        centered_lpg: _eight_schools(True),
    }


#: geobayes jitted log density -> builder of the native JAX log density (filled lazily)
NATIVE: dict = {}


def _callback(model):
    import jax
    import jax.numpy as jnp

    lpg, f, i, d = model.lpg, model.fdata, model.idata, model.dim

    def host(x):
        lp, g = lpg(np.ascontiguousarray(x, dtype=np.float64), f, i)
        return np.float64(lp), np.asarray(g, dtype=np.float64)

    shapes = (jax.ShapeDtypeStruct((), jnp.float64), jax.ShapeDtypeStruct((d,), jnp.float64))

    @jax.custom_jvp
    def logdensity(x):
        return jax.pure_callback(host, shapes, x, vmap_method="sequential")[0]

    @logdensity.defjvp
    def _jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        lp, g = jax.pure_callback(host, shapes, x, vmap_method="sequential")
        return lp, g @ t

    return logdensity


def jax_logdensity(model):
    """``(logdensity, how)`` with ``how`` ``"jax-native"`` or ``"numba-callback"``."""
    if not NATIVE:
        NATIVE.update(_native())
    build = NATIVE.get(model.lpg)
    if build is not None:
        return build(model), "jax-native"
    return _callback(model), "numba-callback"
