"""What the harness can run: geobayes methods from the sampler registry, and peers.

A *runner* turns ``(target, size, seed, chains, hyper)`` into a :class:`RunOutput`: the
constrained draws by name, log-weights for weighted-particle methods, the gradient
evaluations and the wall time of the user-level call (imports, model building and
metrics are outside it).  ``size`` is the one knob the harness scales to meet a budget:
for chain methods it is the number of warmup iterations and of kept draws per chain
(Stan's 1:1 ratio); a method may declare another knob (see :func:`size_kwargs`).

geobayes methods are read from :data:`geobayes.samplers.METHODS` each time, so a
method that registers there appears here without edits.  Peers (NumPyro NUTS, BlackJAX
NUTS, emcee, nutpie) live in :mod:`geobayes.bench.peers`; each is optional and is
listed whether installed or not (choosing one that is not installed is a clear error).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RunOutput", "method_names", "get_runner", "check_method"]


@dataclass
class RunOutput:
    """One sampling call: ``arrays`` name -> ``(chains, draws, *shape)`` constrained draws."""

    arrays: dict
    chains: int
    draws: int
    wall_s: float
    n_grad: int | None = None
    log_weight: np.ndarray | None = None
    divergences: int | None = None
    sampling_s: float | None = None
    extra: dict = field(default_factory=dict)
    weights: np.ndarray | None = None  # normalized per chain, possibly signed (MSIP)


def _geobayes_methods() -> dict:
    from geobayes.samplers import METHODS

    return dict(METHODS)


def _peer_names() -> list[str]:
    from geobayes.bench.peers import PEERS

    return list(PEERS)


def method_names() -> list[str]:
    """geobayes methods (from the sampler registry) followed by the peers."""
    return sorted(_geobayes_methods()) + _peer_names()


def check_method(name: str) -> None:
    """Raise ValueError naming the valid methods (or the missing peer package)."""
    if name in _geobayes_methods():
        return
    from geobayes.bench.peers import PEERS

    if name in PEERS:
        PEERS[name].check_installed()
        return
    raise ValueError(f"unknown method {name!r}; available methods: {', '.join(method_names())}")


def size_kwargs(cls, size: int) -> dict:
    """Keyword arguments of ``geobayes.sample`` that make a run of ``size``.

    A method class may set ``bench_size`` to a mapping ``kwarg -> factor`` (e.g.
    ``{"draws": 1, "warmup": 0}``); chain methods default to ``warmup = draws = size``,
    particle methods (MSIP, SHK) to ``n_steps = size`` (their ``n_particles`` is a
    hyperparameter: ``--param msip.n_particles=500``).

    Examples
    --------
    >>> from geobayes.samplers import METHODS
    >>> size_kwargs(METHODS["hmc"][0], 300), size_kwargs(METHODS["msip"][0], 300)
    ({'draws': 300, 'warmup': 300}, {'n_steps': 300})
    """
    default = {"n_steps": 1} if getattr(cls, "family", "chain") == "particle" else None
    spec = getattr(cls, "bench_size", None) or default or {"draws": 1, "warmup": 1}
    return {k: max(int(round(size * f)), 0 if k == "warmup" else 1) for k, f in spec.items()}


class GeobayesRunner:
    """``geobayes.sample`` on the target's model, through the public call."""

    pilot_size = 100
    min_size = 50
    max_size = 200_000
    recompiles_on_size = False

    def __init__(self, name: str):
        self.name = name
        self.cls = _geobayes_methods()[name][0]

    def __call__(self, target, size, seed, chains, hyper) -> RunOutput:
        import geobayes
        from geobayes.trace import get_weights

        kw = size_kwargs(self.cls, size) | dict(hyper)
        t = time.perf_counter()
        tr = geobayes.sample(
            target.model,
            method=self.name,
            chains=chains,
            seed=seed,
            progress=False,
            log_likelihood=False,
            **kw,
        )
        wall = time.perf_counter() - t
        post = tr["posterior"]
        arrays = {k: post[k].values for k in post.data_vars}
        c, d = next(iter(arrays.values())).shape[:2]
        stats = tr["sample_stats"]
        particle = getattr(self.cls, "family", "chain") == "particle"
        weights = get_weights(tr) if particle else None
        div = int(np.sum(stats["diverging"].values)) if "diverging" in stats.data_vars else None
        # particle methods count log-density-and-gradient evaluations as n_evals
        n_grad = tr.attrs.get("n_evals" if particle else "n_gradient_evals")
        return RunOutput(
            arrays,
            c,
            d,
            wall,
            n_grad=int(n_grad) if n_grad is not None else None,
            weights=weights,
            divergences=div,
            sampling_s=float(tr.attrs.get("sampling_time", np.nan)),
        )


def get_runner(name: str):
    """The runner of method ``name`` (validated)."""
    check_method(name)
    if name in _geobayes_methods():
        return GeobayesRunner(name)
    from geobayes.bench.peers import PEERS

    return PEERS[name]
