"""NumPyro NUTS and BlackJAX NUTS on the JAX version of a target (64-bit floats).

Both sample on the geobayes model's unconstrained vector from Stan-style uniform(-2, 2)
initial points, ``size`` warmup iterations and ``size`` draws per chain; chains are
vectorized (``jax.vmap`` / NumPyro ``chain_method="vectorized"``; hyper
``chain_method="sequential"`` for NumPyro).  Gradient evaluations are the leapfrog
steps of warmup and sampling.  JAX compiles for each new number of iterations and for each new
sampler object, so each runner keeps its compiled sampler per (target, size, chains,
hyperparameters) within the process, as a user re-running the same call would, and the
harness repeats the measured call (``recompiles_on_size``) and reports the warm one.

JAX's persistent compilation cache: ``geobayes bench`` keeps it in ``OUT/jax-cache``
(environment variable ``GEOBAYES_JAX_CACHE``, set by :func:`geobayes.bench.run_grid`), so
the measured call finds JAX's cache warm, as geobayes finds Numba's; hyper
``jax_cache=DIR`` chooses another folder and ``jax_cache=off`` turns it off.  Without it
NumPyro traces and compiles again at every call (about 5-13 s on eight schools, measured
2026-12-01) even on the same ``MCMC`` object.
"""

from __future__ import annotations

import os
import time

import numpy as np

from geobayes.bench.grid import JAX_CACHE_ENV
from geobayes.bench.methods import RunOutput
from geobayes.bench.peers import Peer

__all__ = ["NumPyroNUTS", "BlackJAXNUTS"]


def _setup_jax(hyper):
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = hyper.pop("jax_cache", None) or os.environ.get(JAX_CACHE_ENV)
    if cache and str(cache).lower() != "off":
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


def _as_arrays(target, samples, how, chains):
    """Constrained draws by name ``(chains, draws, ...)`` from a peer's samples."""
    if how == "numpyro-model":  # constrained sites by name already
        return {k: np.asarray(v) for k, v in samples.items()}
    pos = np.asarray(samples)
    return _arrays(target, pos if pos.ndim == 3 else pos[None])


class NumPyroNUTS(Peer):
    """NumPyro's NUTS on the target's NumPyro model (a user's call), else a ``potential_fn``."""

    name = "numpyro_nuts"
    packages = ("numpyro", "jax")
    recompiles_on_size = True
    _cache: dict = {}

    def __call__(self, target, size, seed, chains, hyper):
        hyper = dict(hyper)
        jax = _setup_jax(hyper)
        from numpyro.infer import MCMC, NUTS

        from geobayes.bench.peers.numpyro_models import numpyro_model

        method = hyper.pop("chain_method", "vectorized")
        ckey = (target.name, size, chains, method, tuple(sorted(hyper.items())))
        t = time.perf_counter()
        mcmc, how = self._cache.get(ckey, (None, None))
        if mcmc is None:
            model = numpyro_model(target.name)
            if model is not None:
                kernel, how = NUTS(model, **hyper), "numpyro-model"
            else:
                from geobayes.bench.peers.jax_models import jax_logdensity

                logdensity, how = jax_logdensity(target.model)
                kernel = NUTS(potential_fn=lambda x: -logdensity(x), **hyper)
            mcmc = MCMC(
                kernel,
                num_warmup=size,
                num_samples=size,
                num_chains=chains,
                chain_method=method,
                progress_bar=False,
                jit_model_args=True,  # NumPyro reuses its compiled sampler only with this
            )
            self._cache = {ckey: (mcmc, how)}  # keep one: the last (target, size) asked for
        # a model starts from NumPyro's default (uniform(-2, 2) unconstrained, as Stan)
        init = None if how == "numpyro-model" else jax.numpy.asarray(_init(target, seed, chains))
        key = jax.random.PRNGKey(seed)
        mcmc.warmup(key, init_params=init, extra_fields=("num_steps",), collect_warmup=True)
        n_warm = int(np.sum(np.asarray(mcmc.get_extra_fields()["num_steps"])))
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps", "diverging"))
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        ex = mcmc.get_extra_fields()
        n_steps = int(np.sum(np.asarray(ex["num_steps"])))
        div = int(np.sum(np.asarray(ex["diverging"])))
        wall = time.perf_counter() - t
        arrays = _as_arrays(target, samples, how, chains)
        c, n = next(iter(arrays.values())).shape[:2]
        return RunOutput(
            arrays,
            c,
            n,
            wall,
            n_grad=n_warm + n_steps,
            divergences=div,
            extra={"model_impl": how, "chain_method": method},
        )


class BlackJAXNUTS(Peer):
    """BlackJAX's NUTS after its Stan-style ``window_adaptation``, chains vmapped.

    On a target with a NumPyro model the log density is that model's potential
    (``numpyro.infer.util.initialize_model``, as BlackJAX's examples do), started from
    NumPyro's uniform(-2, 2) initial points; otherwise :func:`jax_logdensity`.
    """

    name = "blackjax_nuts"
    packages = ("blackjax", "jax")
    recompiles_on_size = True
    _cache: dict = {}

    def __call__(self, target, size, seed, chains, hyper):
        hyper = dict(hyper)
        jax = _setup_jax(hyper)
        import blackjax

        from geobayes.bench.peers.numpyro_models import numpyro_model

        target_accept = float(hyper.pop("target_accept", 0.8))
        ckey = (target.name, size, chains, target_accept, tuple(sorted(hyper.items())))
        t = time.perf_counter()
        model = numpyro_model(target.name)
        if model is not None:
            from numpyro.infer.util import initialize_model

            infos = [
                initialize_model(k, model)
                for k in jax.random.split(jax.random.PRNGKey(seed + 10_000), chains)
            ]
            potential, postprocess = infos[0].potential_fn, infos[0].postprocess_fn
            init = jax.tree.map(lambda *a: jax.numpy.stack(a), *[i.param_info.z for i in infos])
            how = "numpyro-model"

            def logdensity(z):
                return -potential(z)
        else:
            from geobayes.bench.peers.jax_models import jax_logdensity

            logdensity, how = jax_logdensity(target.model)
            init, postprocess = jax.numpy.asarray(_init(target, seed, chains)), None

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
            if postprocess is not None:
                pos = jax.vmap(postprocess)(pos)
            n_warm = jax.numpy.sum(winfo.info.num_integration_steps)
            return pos, n_warm + jax.numpy.sum(n_steps), jax.numpy.sum(div)

        fn = self._cache.get(ckey)
        if fn is None:
            fn = jax.jit(jax.vmap(run_chain))
            self._cache = {ckey: fn}
        keys = jax.random.split(jax.random.PRNGKey(seed), chains)
        pos, n_grad, div = fn(keys, init)
        pos = jax.block_until_ready(pos)
        wall = time.perf_counter() - t
        arrays = _as_arrays(target, pos, how, chains)
        c, n = next(iter(arrays.values())).shape[:2]
        return RunOutput(
            arrays,
            c,
            n,
            wall,
            n_grad=int(np.sum(np.asarray(n_grad))),
            divergences=int(np.sum(np.asarray(div))),
            extra={"model_impl": how},
        )
