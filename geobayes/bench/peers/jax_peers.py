"""NumPyro NUTS and BlackJAX NUTS on the JAX version of a target (64-bit floats).

Both sample on the geobayes model's unconstrained vector from Stan-style uniform(-2, 2)
initial points, ``size`` warmup iterations and ``size`` draws per chain; chains are
vectorized (``jax.vmap`` / NumPyro ``chain_method="vectorized"``; hyper
``chain_method="sequential"`` for NumPyro).  Gradient evaluations are the leapfrog
steps of warmup and sampling.  JAX compiles for each new number of iterations and for each new
sampler object, so each runner keeps its compiled sampler per (target, size, chains,
hyperparameters) within the process, as a user re-running the same call would, and the
harness repeats the measured call (``recompiles_on_size``) and reports the warm one.
JAX's persistent cache is off unless hyper ``jax_cache=DIR`` is given.
"""

from __future__ import annotations

import time

import numpy as np

from geobayes.bench.methods import RunOutput
from geobayes.bench.peers import Peer

__all__ = ["NumPyroNUTS", "BlackJAXNUTS"]


def _setup_jax(hyper):
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = hyper.pop("jax_cache", None)
    if cache:
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return jax


def _init(target, seed, chains):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2.0, 2.0, size=(chains, target.model.dim))


def _arrays(target, pos):
    c, n, d = pos.shape
    flat = target.model.constrain(pos.reshape(c * n, d))
    return {k: np.asarray(v).reshape(c, n, *np.shape(v)[1:]) for k, v in flat.items()}


class NumPyroNUTS(Peer):
    """NumPyro's NUTS with a ``potential_fn`` (its public API for a hand-written density)."""

    name = "numpyro_nuts"
    packages = ("numpyro", "jax")
    recompiles_on_size = True
    _cache: dict = {}

    def __call__(self, target, size, seed, chains, hyper):
        hyper = dict(hyper)
        jax = _setup_jax(hyper)
        from numpyro.infer import MCMC, NUTS

        from geobayes.bench.peers.jax_models import jax_logdensity

        logdensity, how = jax_logdensity(target.model)
        init = jax.numpy.asarray(_init(target, seed, chains))
        method = hyper.pop("chain_method", "vectorized")

        def potential(x):
            return -logdensity(x)

        ckey = (target.name, size, chains, method, tuple(sorted(hyper.items())))
        t = time.perf_counter()
        mcmc = self._cache.get(ckey)
        if mcmc is None:
            mcmc = MCMC(
                NUTS(potential_fn=potential, **hyper),
                num_warmup=size,
                num_samples=size,
                num_chains=chains,
                chain_method=method,
                progress_bar=False,
                jit_model_args=True,  # NumPyro reuses its compiled sampler only with this
            )
            self._cache = {ckey: mcmc}  # keep one: the last (target, size) asked for
        key = jax.random.PRNGKey(seed)
        mcmc.warmup(key, init_params=init, extra_fields=("num_steps",), collect_warmup=True)
        n_warm = int(np.sum(np.asarray(mcmc.get_extra_fields()["num_steps"])))
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps", "diverging"))
        pos = np.asarray(mcmc.get_samples(group_by_chain=True))
        ex = mcmc.get_extra_fields()
        n_steps = int(np.sum(np.asarray(ex["num_steps"])))
        div = int(np.sum(np.asarray(ex["diverging"])))
        wall = time.perf_counter() - t
        if pos.ndim == 2:
            pos = pos[None]
        return RunOutput(
            _arrays(target, pos),
            pos.shape[0],
            pos.shape[1],
            wall,
            n_grad=n_warm + n_steps,
            divergences=div,
            extra={"model_impl": how, "chain_method": method},
        )


class BlackJAXNUTS(Peer):
    """BlackJAX's NUTS after its Stan-style ``window_adaptation``, chains vmapped."""

    name = "blackjax_nuts"
    packages = ("blackjax", "jax")
    recompiles_on_size = True
    _cache: dict = {}

    def __call__(self, target, size, seed, chains, hyper):
        hyper = dict(hyper)
        jax = _setup_jax(hyper)
        import blackjax

        from geobayes.bench.peers.jax_models import jax_logdensity

        logdensity, how = jax_logdensity(target.model)
        init = jax.numpy.asarray(_init(target, seed, chains))
        target_accept = float(hyper.pop("target_accept", 0.8))

        def run_chain(key, x0):
            k1, k2 = jax.random.split(key)
            warmup = blackjax.window_adaptation(
                blackjax.nuts, logdensity, target_acceptance_rate=target_accept, **hyper
            )
            (state, params), winfo = warmup.run(k1, x0, num_steps=size)
            kernel = blackjax.nuts(logdensity, **params)

            def step(st, k):
                st, info = kernel.step(k, st)
                return st, (st.position, info.num_integration_steps, info.is_divergent)

            _, (pos, n_steps, div) = jax.lax.scan(step, state, jax.random.split(k2, size))
            n_warm = jax.numpy.sum(winfo.info.num_integration_steps)
            return pos, n_warm + jax.numpy.sum(n_steps), jax.numpy.sum(div)

        ckey = (target.name, size, chains, target_accept, tuple(sorted(hyper.items())))
        fn = self._cache.get(ckey)
        if fn is None:
            fn = jax.jit(jax.vmap(run_chain))
            self._cache = {ckey: fn}
        t = time.perf_counter()
        keys = jax.random.split(jax.random.PRNGKey(seed), chains)
        pos, n_grad, div = fn(keys, init)
        pos = np.asarray(jax.block_until_ready(pos))
        wall = time.perf_counter() - t
        return RunOutput(
            _arrays(target, pos),
            pos.shape[0],
            pos.shape[1],
            wall,
            n_grad=int(np.sum(np.asarray(n_grad))),
            divergences=int(np.sum(np.asarray(div))),
            extra={"model_impl": how},
        )
