"""Saving a run's final state in its trace, and continuing a run from it.

Every trace of a chain method carries a ``sampler_state`` group: for each chain its
position, gradient and log density after the last completed iteration, the step size,
the dual-averaging state, the metric, the Welford accumulators of the metric adaptation,
the generator's state (JSON of ``bit_generator.state``) and the number of iterations
done (warmup first).  ``geobayes.sample(model, resume=trace, draws=...)`` rebuilds each
chain from it and runs the iterations still missing; the new draws are appended to the
trace's groups.  Because the chain's generator and adaptation state are restored
exactly, an interrupted-and-resumed run is bit-identical to an uninterrupted one with
the same seed, whether it stopped in warmup or in sampling.

A particle method's trace (MSIP, SHK) carries the same group with each replicate's
population instead: the unconstrained particles, their weights, the method's persistent
state (``aux``), its per-replicate parameters, the statistics of the iterations done, the
generator's state and the iteration count (:func:`particle_state_dataset`); a resumed
particle run continues to the method's ``n_steps`` and is bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

__all__ = [
    "STATE_GROUP",
    "rng_to_json",
    "rng_from_json",
    "state_dataset",
    "particle_state_dataset",
    "read_state",
    "append_traces",
]

#: Name of the trace group holding the chains' final state.
STATE_GROUP = "sampler_state"


def rng_to_json(rng: np.random.Generator) -> str:
    """The generator's full state as JSON (exact: PCG64's 128-bit integers included)."""
    return json.dumps(rng.bit_generator.state)


def rng_from_json(text: str) -> np.random.Generator:
    """A generator in exactly the state :func:`rng_to_json` recorded."""
    state = json.loads(text)
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def state_dataset(chains, **attrs) -> xr.Dataset:
    """The ``sampler_state`` group from the driver's per-chain state objects."""

    def stack(name):
        return np.stack([np.asarray(getattr(c, name), dtype=np.float64) for c in chains])

    ds = xr.Dataset(
        {
            "position": (("chain", "state_dim"), stack("x")),
            "grad": (("chain", "state_dim"), stack("g")),
            "lp_step_size": (("chain", "scalar"), stack("scal")),
            "dual_averaging": (("chain", "da_dim"), stack("da")),
            "metric": (("chain", "metric_dim"), stack("metric")),
            "welford": (("chain", "welford_dim"), stack("welford")),
            "iteration": (("chain",), np.array([c.done for c in chains], dtype=np.int64)),
            "rng_state": (("chain",), np.array([rng_to_json(c.rng) for c in chains], dtype=str)),
        },
        coords={"chain": np.arange(len(chains))},
    )
    ds.attrs.update(attrs)
    return ds


def particle_state_dataset(rngs, xs, ws, auxs, params, stats, stat_names, done, **attrs):
    """The ``sampler_state`` group of a particle-method run (``done``: iterations per replicate)."""
    ds = xr.Dataset(
        {
            "position": (("chain", "particle", "state_dim"), np.stack(xs)),
            "weight": (("chain", "particle"), np.stack(ws)),
            "aux": (("chain", "aux_dim"), np.stack(auxs)),
            "params": (("chain", "param_dim"), np.stack(params)),
            "stats": (("chain", "iteration", "stat"), np.asarray(stats[:, : max(done)])),
            "iteration": (("chain",), np.asarray(done, dtype=np.int64)),
            "rng_state": (("chain",), np.array([rng_to_json(r) for r in rngs], dtype=str)),
        },
        coords={"chain": np.arange(len(xs)), "stat": list(stat_names)},
    )
    ds.attrs.update(attrs, family="particle")
    return ds


def read_state(trace) -> xr.Dataset:
    """The ``sampler_state`` group of ``trace``, or a clear error naming what is missing."""
    if not hasattr(trace, "children") or STATE_GROUP not in trace.children:
        raise ValueError(
            "resume needs a trace written by geobayes.sample of this version (it carries a "
            f"'{STATE_GROUP}' group with each chain's final state); this one has none"
        )
    return trace[STATE_GROUP].to_dataset()


def append_traces(old, new):
    """``old`` with ``new``'s iterations appended along ``draw`` in every group they share.

    Groups only ``new`` has are taken from it (e.g. the posterior of a run that was
    interrupted in warmup); ``sampler_state`` and the root attributes come from ``new``,
    with the counts (draws, gradient evaluations, divergences, time) added up.
    """
    out = {}
    names = list(dict.fromkeys([*old.children, *new.children]))
    for name in names:
        if name == STATE_GROUP or name not in new.children:
            if name != STATE_GROUP and name in old.children:
                out[name] = old[name].to_dataset()
            continue
        b = new[name].to_dataset()
        if name in old.children and "draw" in b.dims:
            a = old[name].to_dataset()
            merged = xr.concat(
                [a, b],
                dim="draw",
                data_vars="all",
                coords="minimal",
                compat="override",
                join="override",
            )
            merged = merged.assign_coords(draw=np.arange(merged.sizes["draw"]))
            out[name] = merged
        else:
            out[name] = b
    out[STATE_GROUP] = new[STATE_GROUP].to_dataset()
    tree = xr.DataTree.from_dict(out)
    attrs = dict(new.attrs)
    for key in ("draws", "n_gradient_evals", "divergences", "warmup_divergences"):
        if key in old.attrs and key in new.attrs:
            attrs[key] = int(old.attrs[key]) + int(new.attrs[key])
    if "sampling_time" in old.attrs:
        attrs["sampling_time"] = float(old.attrs["sampling_time"]) + float(
            new.attrs.get("sampling_time", 0.0)
        )
    attrs["resumed"] = int(old.attrs.get("resumed", 0)) + 1
    tree.attrs = attrs
    return tree
