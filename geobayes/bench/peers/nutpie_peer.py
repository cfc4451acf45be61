"""nutpie on the PyMC version of a target (compiled by nutpie's numba backend).

The PyMC model is written natively for each target in :func:`pymc_model` (same
unconstrained parameterization as geobayes: PyMC's log transform for positive
scales).  Compilation (``nutpie.compile_pymc_model``) is part of the cold call, as for
the other peers; the compiled model is kept for the process's later calls.  Gradient
evaluations: the sum of ``n_steps`` over warmup and draws.
"""

from __future__ import annotations

import time

import numpy as np

from geobayes.bench.methods import RunOutput
from geobayes.bench.peers import Peer

__all__ = ["NutpiePeer", "pymc_model"]


def _posteriordb_pymc(name):
    """PyMC versions of the posteriordb targets (the Stan programs), or None."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from geobayes.bench.peers.numpyro_models import posteriordb_json

    if name not in _PDB:
        return None
    d = posteriordb_json(name)
    with pm.Model() as m:
        if name == "arK-arK":
            k, y = d["K"], np.asarray(d["y"])
            lags = np.stack([y[k - j - 1 : len(y) - j - 1] for j in range(k)], axis=1)
            alpha = pm.Normal("alpha", 0.0, 10.0)
            beta = pm.Normal("beta", 0.0, 10.0, shape=k)
            sigma = pm.HalfCauchy("sigma", 2.5)
            pm.Normal("y", alpha + pt.dot(lags, beta), sigma, observed=y[k:])
        elif name == "garch-garch11":
            y, sigma1 = np.asarray(d["y"]), float(d["sigma1"])
            mu = pm.Flat("mu")
            alpha0 = pm.HalfFlat("alpha0")
            alpha1 = pm.Uniform("alpha1", 0.0, 1.0)
            u = pm.Uniform("beta1_unit", 0.0, 1.0)  # beta1 flat on (0, 1 - alpha1), as Stan
            beta1 = pm.Deterministic("beta1", (1.0 - alpha1) * u)
            pm.Potential("beta1_jacobian", pt.log1p(-alpha1))
            sig, _ = pytensor.scan(  # the parameters enter as non_sequences, as PyMC needs
                lambda y_prev, s_prev, mu_, a0, a1, b1: pt.sqrt(
                    a0 + a1 * (y_prev - mu_) ** 2 + b1 * s_prev**2
                ),
                sequences=[pt.as_tensor(y[:-1])],
                outputs_info=[pt.constant(np.float64(sigma1))],
                non_sequences=[mu, alpha0, alpha1, beta1],
            )
            pm.Normal("y", mu, pt.concatenate([pt.constant(np.array([sigma1])), sig]), observed=y)
        elif name == "gp_pois_regr-gp_pois_regr":
            x, n = np.asarray(d["x"], dtype=float), len(d["x"])
            rho = pm.Gamma("rho", 25.0, 4.0)
            alpha = pm.HalfNormal("alpha", 2.0)
            f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=n)
            cov = alpha**2 * pt.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / rho**2)
            f = pm.Deterministic("f", pt.dot(pt.linalg.cholesky(cov + 1e-10 * np.eye(n)), f_tilde))
            pm.Poisson("k", pt.exp(f), observed=np.asarray(d["k"]))
        elif name == "kidiq-kidscore_interaction":
            hs, iq = np.asarray(d["mom_hs"], float), np.asarray(d["mom_iq"], float)
            beta = pm.Flat("beta", shape=4)
            sigma = pm.HalfCauchy("sigma", 2.5)
            mu = beta[0] + beta[1] * hs + beta[2] * iq + beta[3] * hs * iq
            pm.Normal("y", mu, sigma, observed=np.asarray(d["kid_score"], float))
        elif name == "kilpisjarvi_mod-kilpisjarvi":
            x = np.asarray(d["x"], float)
            alpha = pm.Normal("alpha", d["pmualpha"], d["psalpha"])
            beta = pm.Normal("beta", d["pmubeta"], d["psbeta"])
            sigma = pm.HalfFlat("sigma")
            pm.Normal("y", alpha + beta * x, sigma, observed=np.asarray(d["y"], float))
        elif name == "low_dim_gauss_mix-low_dim_gauss_mix":
            y = np.asarray(d["y"])
            mu = pm.Normal(
                "mu",
                0.0,
                2.0,
                shape=2,
                transform=pm.distributions.transforms.ordered,
                initval=np.array([-1.0, 1.0]),
            )
            sigma = pm.HalfNormal("sigma", 2.0, shape=2)
            theta = pm.Beta("theta", 5.0, 5.0)
            lp1 = pt.log(theta) + pm.logp(pm.Normal.dist(mu[0], sigma[0]), y)
            lp2 = pt.log1p(-theta) + pm.logp(pm.Normal.dist(mu[1], sigma[1]), y)
            pm.Potential("lik", pt.sum(pt.logaddexp(lp1, lp2)))
        else:  # sblrc-blr
            x = np.asarray(d["X"])
            beta = pm.Normal("beta", 0.0, 10.0, shape=x.shape[1])
            sigma = pm.HalfNormal("sigma", 10.0)
            pm.Normal("y", pt.dot(x, beta), sigma, observed=np.asarray(d["y"]))
    return m


_PDB = (
    "arK-arK",
    "garch-garch11",
    "gp_pois_regr-gp_pois_regr",
    "kidiq-kidscore_interaction",
    "kilpisjarvi_mod-kilpisjarvi",
    "low_dim_gauss_mix-low_dim_gauss_mix",
    "sblrc-blr",
)


def pymc_model(model):
    """A PyMC model of the geobayes ``model``: Gaussians, mixtures, eight schools and the
    posteriordb targets, with the geobayes model's constrained names."""
    import pymc as pm

    from geobayes.models.eight_schools import centered_lpg, noncentered_lpg
    from geobayes.models.gaussian import gaussian_lpg
    from geobayes.models.mixture import mixture_lpg

    pdb = _posteriordb_pymc(model.name)
    if pdb is not None:
        return pdb
    with pm.Model() as m:
        if model.lpg is gaussian_lpg:
            pm.MvNormal("x", mu=model.true_mean, cov=model.true_cov)
        elif model.lpg is mixture_lpg:
            d, k = int(model.idata[0]), int(model.idata[1])
            f = model.fdata
            w = np.exp(f[:k])
            mu = f[k : k + k * d].reshape(k, d)
            sd = f[k + k * d : k + k * d + k]
            comps = [pm.MvNormal.dist(mu=mu[j], cov=sd[j] ** 2 * np.eye(d)) for j in range(k)]
            pm.Mixture("x", w=w, comp_dists=comps)
        elif model.lpg in (noncentered_lpg, centered_lpg):
            j = int(model.idata[0])
            y, sigma = model.fdata[:j], model.fdata[j : 2 * j]
            mu = pm.Normal("mu", 0.0, 5.0)
            tau = pm.HalfCauchy("tau", 5.0)
            if model.lpg is centered_lpg:
                theta = pm.Normal("theta", mu, tau, shape=j)
            else:
                z = pm.Normal("theta_trans", 0.0, 1.0, shape=j)
                theta = pm.Deterministic("theta", mu + tau * z)
            pm.Normal("y", theta, sigma, observed=y)
        else:
            raise ValueError(
                f"nutpie: no PyMC version of model {model.name!r} yet "
                "(add one to geobayes.bench.peers.nutpie_peer.pymc_model)"
            )
    return m


class NutpiePeer(Peer):
    name = "nutpie"
    packages = ("nutpie", "pymc")
    recompiles_on_size = False
    _compiled: dict = {}

    def __call__(self, target, size, seed, chains, hyper):
        import nutpie

        hyper = dict(hyper)
        t = time.perf_counter()
        # a user compiles once and samples many times: the first (cold) call of the
        # process compiles, later calls reuse the compiled model
        compiled = self._compiled.get(target.name)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(pymc_model(target.model))
            self._compiled = {target.name: compiled}
        tr = nutpie.sample(
            compiled,
            draws=size,
            tune=size,
            chains=chains,
            seed=seed,
            progress_bar=False,
            save_warmup=True,
            **hyper,
        )
        wall = time.perf_counter() - t
        post = tr.posterior
        arrays = {k: np.asarray(post[k].values) for k in post.data_vars}
        stats = tr.sample_stats
        n_grad = int(np.sum(stats["n_steps"].values))
        if (
            "warmup_sample_stats" in tr.children
            if hasattr(tr, "children")
            else hasattr(tr, "warmup_sample_stats")
        ):
            n_grad += int(np.sum(tr["warmup_sample_stats"]["n_steps"].values))
        c, n = next(iter(arrays.values())).shape[:2]
        return RunOutput(
            arrays,
            c,
            n,
            wall,
            n_grad=n_grad,
            divergences=int(np.sum(stats["diverging"].values)),
            extra={"model_impl": "pymc"},
        )
