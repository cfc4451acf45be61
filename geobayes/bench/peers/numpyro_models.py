"""The posteriordb targets written as NumPyro models, for the JAX peers.

A NumPyro user writes a model, not a log density on a flat vector, so the NumPyro peer
samples these models with ``MCMC(NUTS(model))`` and the BlackJAX peer samples their
potential from :func:`numpyro.infer.util.initialize_model` (the route BlackJAX's own
examples take).  Both are pure JAX, like for like with a native JAX program.  Site names
are the geobayes model's constrained names (``model.constrain``), so the draws go
through the same reference columns; the priors and likelihoods are the Stan programs of
``../shared/reference/posteriordb``.  Data come from the package's own copies
(``geobayes/models/data``).

:func:`numpyro_model` returns the model of a target name, or None when there is none
(the peers then fall back to :mod:`geobayes.bench.peers.jax_models`).
"""

from __future__ import annotations

import json
from importlib.resources import files

import numpy as np

__all__ = ["numpyro_model", "posteriordb_json", "MODELS"]

_Y8 = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
_SIGMA8 = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def posteriordb_json(name):
    """The data of posteriordb target ``name`` from the package's copy."""
    return json.loads(files("geobayes.models").joinpath("data", name + ".json").read_text())


def _flat(name, support=None, shape=()):
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    return numpyro.sample(name, dist.ImproperUniform(support or constraints.real, (), shape))


def _eight_schools(centered):
    def model():
        import numpyro
        import numpyro.distributions as dist

        mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
        tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
        with numpyro.plate("J", 8):
            if centered:
                theta = numpyro.sample("theta", dist.Normal(mu, tau))
            else:
                z = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
                theta = numpyro.deterministic("theta", mu + tau * z)
            numpyro.sample("obs", dist.Normal(theta, _SIGMA8), obs=_Y8)

    return model


def _ark():
    import jax.numpy as jnp

    d = posteriordb_json("arK-arK")
    k, y = d["K"], jnp.asarray(d["y"])
    t = y.shape[0]
    lags = jnp.stack([y[k - j - 1 : t - j - 1] for j in range(k)], axis=1)

    def model():
        import numpyro
        import numpyro.distributions as dist

        alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([k]))
        sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
        numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=y[k:])

    return model


def _garch11():
    import jax
    import jax.numpy as jnp

    d = posteriordb_json("garch-garch11")
    y = jnp.asarray(d["y"])
    sigma1 = jnp.asarray(d["sigma1"], dtype=y.dtype)

    def model():
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        mu = _flat("mu")
        alpha0 = _flat("alpha0", constraints.positive)
        alpha1 = numpyro.sample("alpha1", dist.Uniform(0.0, 1.0))
        # beta1 is flat on (0, 1 - alpha1): as Stan, a unit-interval variable scaled
        u = _flat("beta1_unit", constraints.unit_interval)
        beta1 = numpyro.deterministic("beta1", (1.0 - alpha1) * u)
        numpyro.factor("beta1_jacobian", jnp.log1p(-alpha1))

        def step(s_prev, y_prev):
            s = jnp.sqrt(alpha0 + alpha1 * (y_prev - mu) ** 2 + beta1 * s_prev**2)
            return s, s

        _, sig = jax.lax.scan(step, sigma1, y[:-1])
        numpyro.sample("y", dist.Normal(mu, jnp.concatenate([sigma1[None], sig])), obs=y)

    return model


def _gp_pois_regr():
    import jax.numpy as jnp

    d = posteriordb_json("gp_pois_regr-gp_pois_regr")
    x, k = jnp.asarray(d["x"], dtype=float), jnp.asarray(d["k"])
    n = x.shape[0]

    def model():
        import numpyro
        import numpyro.distributions as dist

        rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
        alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
        f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([n]))
        cov = alpha**2 * jnp.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / rho**2)
        f = numpyro.deterministic("f", jnp.linalg.cholesky(cov + 1e-10 * jnp.eye(n)) @ f_tilde)
        numpyro.sample("k", dist.Poisson(jnp.exp(f)), obs=k)

    return model


def _kidscore_interaction():
    import jax.numpy as jnp

    d = posteriordb_json("kidiq-kidscore_interaction")
    hs, iq = jnp.asarray(d["mom_hs"], dtype=float), jnp.asarray(d["mom_iq"], dtype=float)
    score = jnp.asarray(d["kid_score"], dtype=float)

    def model():
        import numpyro
        import numpyro.distributions as dist

        beta = _flat("beta", shape=(4,))
        sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
        mu = beta[0] + beta[1] * hs + beta[2] * iq + beta[3] * hs * iq
        numpyro.sample("y", dist.Normal(mu, sigma), obs=score)

    return model


def _kilpisjarvi():
    import jax.numpy as jnp

    d = posteriordb_json("kilpisjarvi_mod-kilpisjarvi")
    x, y = jnp.asarray(d["x"], dtype=float), jnp.asarray(d["y"], dtype=float)

    def model():
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        alpha = numpyro.sample("alpha", dist.Normal(d["pmualpha"], d["psalpha"]))
        beta = numpyro.sample("beta", dist.Normal(d["pmubeta"], d["psbeta"]))
        sigma = _flat("sigma", constraints.positive)
        numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)

    return model


def _low_dim_gauss_mix():
    import jax.numpy as jnp

    y = jnp.asarray(posteriordb_json("low_dim_gauss_mix-low_dim_gauss_mix")["y"])

    def model():
        import numpyro
        import numpyro.distributions as dist
        from numpyro.distributions import constraints

        mu = _flat("mu", constraints.ordered_vector, (2,))
        numpyro.factor("mu_prior", dist.Normal(0.0, 2.0).log_prob(mu).sum())
        sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]))
        theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
        lp1 = jnp.log(theta) + dist.Normal(mu[0], sigma[0]).log_prob(y)
        lp2 = jnp.log1p(-theta) + dist.Normal(mu[1], sigma[1]).log_prob(y)
        numpyro.factor("lik", jnp.logaddexp(lp1, lp2).sum())

    return model


def _blr():
    import jax.numpy as jnp

    d = posteriordb_json("sblrc-blr")
    x, y = jnp.asarray(d["X"]), jnp.asarray(d["y"])

    def model():
        import numpyro
        import numpyro.distributions as dist

        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([x.shape[1]]))
        sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)

    return model


#: target name -> builder of its NumPyro model
MODELS = {
    "eight_schools-eight_schools_noncentered": lambda: _eight_schools(False),
    "eight_schools_centered": lambda: _eight_schools(True),
    "arK-arK": _ark,
    "garch-garch11": _garch11,
    "gp_pois_regr-gp_pois_regr": _gp_pois_regr,
    "kidiq-kidscore_interaction": _kidscore_interaction,
    "kilpisjarvi_mod-kilpisjarvi": _kilpisjarvi,
    "low_dim_gauss_mix-low_dim_gauss_mix": _low_dim_gauss_mix,
    "sblrc-blr": _blr,
}


def numpyro_model(name: str):
    """The NumPyro model of target ``name`` (a callable with no arguments), or None."""
    build = MODELS.get(name)
    return build() if build is not None else None
