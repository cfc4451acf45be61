"""The sampling driver: ``geobayes.sample`` validates, seeds and dispatches by family.

Two families of methods share seeding, threads, the progress bar, Ctrl-C handling
(:mod:`geobayes._loop`) and trace building (:mod:`geobayes.trace`):

* chain methods (NUTS, HMC, MALA, DIMS): :func:`geobayes._chain_driver.sample_chains`,
  one jitted step per iteration of each chain;
* particle methods (MSIP, SHK): :func:`geobayes._particle_driver.sample_particles`,
  one jitted population step per iteration of each replicate.

Each chain or replicate owns a ``numpy.random.Generator`` spawned from ``seed`` and the
chunk boundaries do not change what it draws, so the same seed gives bit-identical
traces whatever the number of threads.  Ctrl-C stops after the running chunk and returns
what was done, marked ``partial``; a chain-method trace can be continued with
``resume=trace``.
"""

from __future__ import annotations

import json

import numpy as np

from geobayes._chain_driver import sample_chains
from geobayes._loop import check_count
from geobayes._memory import FLOAT, require
from geobayes._particle_driver import sample_particles
from geobayes._resume import append_traces, read_state
from geobayes.models.base import Model
from geobayes.random import chain_generators, seed_entropy
from geobayes.samplers import get_method

__all__ = ["sample"]


def _resolve_model(model) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        from geobayes.models import get

        return get(model)
    if any(c.__module__.split(".")[0] == "pymc" for c in type(model).__mro__):
        return Model.from_pymc(model)  # PyMC is imported only when given a PyMC model
    raise TypeError(
        "model must be a geobayes.Model, a pymc.Model or the name of a built-in model, "
        f"got {type(model).__name__}"
    )


def _method_of(trace, method, method_kwargs):
    """The method recorded in ``trace`` (``method``, if given, must be the same one)."""
    settings = json.loads(trace.attrs.get("settings", "{}"))
    name = settings.pop("method", trace.attrs.get("method"))
    recorded = get_method(name, **{**settings, **method_kwargs})
    if method is not None:
        given = get_method(method)
        if given.name != recorded.name:
            raise ValueError(
                f"resume: the trace was made with method {recorded.name!r}, not "
                f"{given.name!r}; leave method out to continue it"
            )
    return recorded


def sample(
    model,
    method=None,
    *,
    draws: int | None = None,
    warmup: int | None = None,
    chains: int = 4,
    seed=None,
    progress: bool = True,
    save_warmup: bool = False,
    initial_points=None,
    cores: int | None = None,
    log_likelihood: bool = True,
    resume=None,
    **method_kwargs,
):
    """Draw from a model's posterior; returns an ArviZ ``DataTree``.

    Parameters
    ----------
    model : geobayes.Model or str
        The target, or the name of a built-in model (``geobayes models`` lists them).
    method : str or SamplerMethod
        ``"nuts"`` (default), ``"hmc"``, ``"mala"``, ``"msip"``, ... (``geobayes methods``
        lists them) or a configured object such as ``geobayes.NUTS(metric="dense")``.
    draws, warmup : int
        Iterations kept per chain (>= 1, default 1000) and adaptation iterations
        discarded (>= 0; default: the method's ``default_warmup``, 1000 for MCMC
        methods, 0 for DIMS).
    chains : int
        Number of independent chains (>= 1), run concurrently.
    seed : int, SeedSequence or None
        Same seed, same trace, whatever the number of threads.
    progress : bool
        Show a progress bar.
    save_warmup : bool
        Keep warmup draws in ``warmup_posterior``/``warmup_sample_stats``.
    initial_points : array of shape (dim,) or (chains, dim), optional
        Unconstrained starting points (default: uniform(-2, 2), retried until finite).
    cores : int, optional
        Threads to use (default: all available, at most ``chains``).
    log_likelihood : bool
        Add the ``log_likelihood`` group when the model has a pointwise log-likelihood
        (default True, so that ``arviz.loo`` works; it costs one pass over the draws).
    resume : DataTree, optional
        A trace of an earlier (interrupted or finished) run on the same model.  A chain
        method's chains continue from the iteration they reached, with the method, warmup
        and seed state recorded in the trace; ``draws`` is then the total number of draws
        wanted (default: what the earlier run asked for), and the result is the earlier
        trace with the new iterations appended.  A particle method's replicates (MSIP,
        SHK) continue to ``n_steps`` (pass a larger ``n_steps=`` to go further) and the
        result is the whole run's trace.  Either way it is bit-identical to an
        uninterrupted run with the same seed (DIMS runs cannot be resumed).
    **method_kwargs
        Hyperparameters when ``method`` is a name, e.g. ``step_size=0.1``.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats`` (and warmup groups, ``observed_data``,
        ``log_likelihood`` when available); see :mod:`geobayes.trace`.

    Examples
    --------
    >>> import geobayes
    >>> trace = geobayes.sample("eight_schools", method="hmc", draws=100, warmup=200,
    ...                         chains=2, seed=0, progress=False)
    >>> trace.posterior["theta"].dims
    ('chain', 'draw', 'school')
    """
    model = _resolve_model(model)
    for flag, value in (
        ("progress", progress),
        ("save_warmup", save_warmup),
        ("log_likelihood", log_likelihood),
    ):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    if resume is not None:
        return _resume(
            model,
            resume,
            method,
            method_kwargs,
            draws,
            cores,
            progress,
            log_likelihood,
            warmup,
            save_warmup,
            initial_points,
            seed,
        )
    method = get_method("nuts" if method is None else method, **method_kwargs)
    chains = check_count("chains", chains, 1)
    if cores is not None:
        cores = check_count("cores", cores, 1)
    seed_value = seed_entropy(seed)
    if method.family == "particle":
        for name, value in (("draws", draws), ("warmup", warmup), ("save_warmup", save_warmup)):
            if value not in (None, False):
                raise TypeError(
                    f"{name} does not apply to the particle method {method.name!r}; set "
                    "n_particles= and n_steps= instead (chains = independent replicates)"
                )
        _require_lower_bound(chains, method.n_particles * model.dim, "n_particles x dim")
        rngs = chain_generators(
            seed_value if not isinstance(seed, np.random.SeedSequence) else seed, chains
        )
        return sample_particles(
            model,
            method,
            chains=chains,
            rngs=rngs,
            seed_value=seed_value,
            initial_points=initial_points,
            cores=cores,
            progress=progress,
            log_likelihood=log_likelihood,
        )
    draws = check_count("draws", 1000 if draws is None else draws, 1)
    warmup = check_count("warmup", method.default_warmup if warmup is None else warmup, 0)
    _require_lower_bound(chains, (draws + (warmup if save_warmup else 0)) * model.dim, "draws")
    rngs = chain_generators(
        seed_value if not isinstance(seed, np.random.SeedSequence) else seed, chains
    )
    return sample_chains(
        model,
        method,
        draws=draws,
        warmup=warmup,
        chains=chains,
        rngs=rngs,
        seed_value=seed_value,
        save_warmup=bool(save_warmup),
        initial_points=initial_points,
        cores=cores,
        progress=progress,
        log_likelihood=log_likelihood,
    )


#: Bytes every chain or replicate holds besides its draws: its generator (about 1 KB,
#: measured) and its state arrays and Python objects.
UNIT_OVERHEAD = 4096


def _require_lower_bound(units: int, values_per_unit: int, what: str) -> None:
    """Refuse a run whose bare output cannot fit, before a generator is spawned."""
    require(
        float(units) * (FLOAT * float(values_per_unit) + UNIT_OVERHEAD),
        f"a run of {units} chains/replicates keeping {values_per_unit} values each ({what})",
        "reduce draws, chains, n_particles or replicates",
    )


def _resume(
    model,
    trace,
    method,
    method_kwargs,
    draws,
    cores,
    progress,
    log_likelihood,
    warmup,
    save_warmup,
    initial_points,
    seed,
):
    """Continue the chains of ``trace`` (see :func:`sample`'s ``resume``)."""
    for name, value in (("warmup", warmup), ("initial_points", initial_points), ("seed", seed)):
        if value is not None:
            raise TypeError(
                f"resume continues the recorded run: {name} cannot be changed (leave it out)"
            )
    if save_warmup:
        raise TypeError("resume keeps the recorded save_warmup setting (leave it out)")
    state = read_state(trace)
    method = _method_of(trace, method, method_kwargs)
    if hasattr(method, "prepare"):
        raise ValueError(
            "resume works for the MCMC chain methods (nuts, hmc, mala) and the particle "
            f"methods (msip, shk); not for {method.name!r}"
        )
    if state.sizes["state_dim"] != model.dim:
        raise ValueError(
            f"resume: the trace's chains have {state.sizes['state_dim']} parameters, model "
            f"{model.name!r} has {model.dim}; pass the model the trace was made with"
        )
    iters = state["iteration"].values
    if np.any(iters != iters[0]):
        raise ValueError("resume: the chains of this trace stopped at different iterations")
    if cores is not None:
        cores = check_count("cores", cores, 1)
    if method.family == "particle":
        return _resume_particles(
            model, trace, state, method, draws, cores, progress, log_likelihood
        )
    warmup_rec = int(state.attrs["warmup"])
    total_draws = int(state.attrs["draws_requested"]) if draws is None else draws
    total_draws = check_count("draws", total_draws, 1)
    done = int(iters[0])
    if warmup_rec + total_draws <= done:
        raise ValueError(
            f"resume: the trace already holds {max(0, done - warmup_rec)} draws per chain; ask "
            "for more (draws is the total wanted)"
        )
    new = sample_chains(
        model,
        method,
        draws=total_draws,
        warmup=warmup_rec,
        chains=state.sizes["chain"],
        rngs=None,
        seed_value=trace.attrs.get("seed"),
        save_warmup=bool(int(state.attrs.get("save_warmup", 0))),
        initial_points=None,
        cores=cores,
        progress=progress,
        log_likelihood=log_likelihood,
        resume_state=state,
    )
    return append_traces(trace, new)


def _resume_particles(model, trace, state, method, draws, cores, progress, log_likelihood):
    """Continue the replicates of a particle-method ``trace`` to ``method.n_steps``."""
    if draws is not None:
        raise TypeError(
            f"draws does not apply to the particle method {method.name!r}; pass n_steps= "
            "(the total number of iterations wanted) to go further than the recorded run"
        )
    if state.attrs.get("family") != "particle":
        raise ValueError("resume: this trace's sampler_state is not a particle method's")
    if state.sizes["particle"] != method.n_particles:
        raise ValueError(
            f"resume: the trace has {state.sizes['particle']} particles per replicate; "
            "n_particles cannot be changed when continuing a run (leave it out)"
        )
    done = int(state["iteration"].values[0])
    if method.n_steps <= done:
        raise ValueError(
            f"resume: the trace already holds {done} iterations of {method.name}; pass a "
            "larger n_steps= (the total wanted) to continue it"
        )
    history = None
    if method.particle_history:
        if "particle_history" not in trace.children:
            raise ValueError(
                "resume: particle_history=True, but the trace has no particle_history group; "
                "continue it with particle_history=False"
            )
        history = trace["particle_history"].to_dataset()
    tree = sample_particles(
        model,
        method,
        chains=state.sizes["chain"],
        rngs=None,
        seed_value=trace.attrs.get("seed"),
        initial_points=None,
        cores=cores,
        progress=progress,
        log_likelihood=log_likelihood,
        resume_state=state,
        resume_history=history,
        previous_time=float(trace.attrs.get("sampling_time", 0.0)),
    )
    tree.attrs["resumed"] = int(trace.attrs.get("resumed", 0)) + 1
    return tree
