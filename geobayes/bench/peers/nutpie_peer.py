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


def pymc_model(model):
    """A PyMC model of the geobayes ``model`` (Gaussians, mixtures, eight schools)."""
    import pymc as pm

    from geobayes.models.eight_schools import centered_lpg, noncentered_lpg
    from geobayes.models.gaussian import gaussian_lpg
    from geobayes.models.mixture import mixture_lpg

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
