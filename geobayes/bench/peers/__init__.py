"""Peer samplers in the harness, each optional: NumPyro NUTS, BlackJAX NUTS, emcee, nutpie.

Every peer is a runner with the signature of
:class:`geobayes.bench.methods.GeobayesRunner` (``runner(target, size, seed, chains,
hyper) -> RunOutput``), timed the same way: imports and model building happen before
the timed call, the timed call is the peer's user-level sampling call up to draws in
host memory, ESS and errors are computed afterwards by the harness.  The peer's own
model is written natively for it (:mod:`geobayes.bench.peers.jax_models` for the JAX
peers, a PyMC model for nutpie, a log-density callable for emcee).

Install them with ``pip install 'geobayes[peers]'`` (or into their own environment);
``make test`` never needs them.  JAX's persistent compilation cache is off unless
``hyper`` of a JAX peer sets ``jax_cache=DIR``, which points it there (so a cell can be
run with the cache cold and warm).
"""

from __future__ import annotations

import importlib.util

__all__ = ["PEERS", "Peer"]


class Peer:
    """Base of the peer runners: name, needed packages, sizes."""

    name = "peer"
    packages: tuple[str, ...] = ()
    pilot_size = 100
    min_size = 50
    max_size = 200_000

    def check_installed(self) -> None:
        missing = [p for p in self.packages if importlib.util.find_spec(p) is None]
        if missing:
            raise ValueError(
                f"method {self.name!r} needs {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed: "
                "pip install 'geobayes[peers]' (peers are optional)"
            )

    def __call__(self, target, size, seed, chains, hyper):  # pragma: no cover - abstract
        raise NotImplementedError


def _load():
    from geobayes.bench.peers.emcee_peer import EmceePeer
    from geobayes.bench.peers.jax_peers import BlackJAXNUTS, NumPyroNUTS
    from geobayes.bench.peers.nutpie_peer import NutpiePeer

    return {p.name: p for p in (NumPyroNUTS(), BlackJAXNUTS(), EmceePeer(), NutpiePeer())}


#: name -> runner (listed whether the package is installed or not)
PEERS = _load()
