"""emcee's affine-invariant ensemble sampler on the geobayes model's log density.

emcee needs only a Python callable of the log density; it gets the geobayes model's
compiled function (``model.lpg``, the gradient discarded), i.e. the fastest density
this machine has for the target.  Walkers: ``max(2 * dim + 2, 4 * chains)`` (hyper
``walkers``); ``size`` burn-in steps then ``size`` kept steps; walkers are reported as
chains (their ESS is ArviZ's multi-chain estimate).  Cost is counted in log-density
evaluations (``n_logp``); there is no gradient.
"""

from __future__ import annotations

import time

import numpy as np

from geobayes.bench.methods import RunOutput
from geobayes.bench.peers import Peer

__all__ = ["EmceePeer"]


class EmceePeer(Peer):
    name = "emcee"
    packages = ("emcee",)
    recompiles_on_size = False

    def __call__(self, target, size, seed, chains, hyper):
        import emcee

        hyper = dict(hyper)
        model = target.model
        d = model.dim
        walkers = int(hyper.pop("walkers", max(2 * d + 2, 4 * chains)))
        lpg, f, i = model.lpg, model.fdata, model.idata

        def log_prob(x):
            lp = lpg(np.ascontiguousarray(x), f, i)[0]
            return lp if np.isfinite(lp) else -np.inf

        rng = np.random.default_rng(seed)
        p0 = rng.uniform(-2.0, 2.0, size=(walkers, d))
        t = time.perf_counter()
        sampler = emcee.EnsembleSampler(walkers, d, log_prob, **hyper)
        sampler._random = np.random.mtrand.RandomState(seed)  # emcee's own stream, seeded
        sampler.run_mcmc(p0, 2 * size, progress=False)
        chain = sampler.get_chain()[size:]  # (steps, walkers, d)
        wall = time.perf_counter() - t
        pos = np.ascontiguousarray(np.swapaxes(chain, 0, 1))
        c, n = pos.shape[:2]
        flat = model.constrain(pos.reshape(c * n, d))
        arrays = {k: np.asarray(v).reshape(c, n, *np.shape(v)[1:]) for k, v in flat.items()}
        return RunOutput(
            arrays,
            c,
            n,
            wall,
            n_grad=None,
            extra={"n_logp": walkers * 2 * size, "walkers": walkers},
        )
