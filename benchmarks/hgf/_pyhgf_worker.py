"""Time pyhgf 0.3.2 on the same series as geobayes (run in benchmarks/.venvs/pyhgf).

Reads a JSON job from argv[1] (``{"series": path.npy, "cases": [[levels, update], ...],
"repeats": n}``), prints one JSON line with, per case: the first call (build +
compile + run), the steady state of the user call ``Network.input_data`` (same
network object, best of ``repeats``), the steady state of pyhgf's kernel alone (the
``jax.lax.scan`` over the belief-propagation step inside ``input_data``, timed by
wrapping the ``scan`` its module calls, result blocked on; ``None`` when that module
has no ``scan``), and the final posterior means (to check it is the same network as
ours).
"""

import json
import os
import sys
import time

# as for the reference files: pyhgf's recommended legacy CPU runtime, set before jax loads
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=false")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from pyhgf.model import Network  # noqa: E402

_UPD = {"classic": "standard", "robust": "unbounded", "ehgf": "eHGF"}


def build(levels, update):
    """The continuous HGF of the reference files (pyhgf's former HGF defaults)."""
    net = Network(volatility_updates=_UPD[update], mean_field_updates=True)
    net.add_nodes(precision=1e4)  # input node 0
    net.add_nodes(value_children=0, mean=0.0, precision=1.0, tonic_volatility=-3.0)
    net.add_nodes(volatility_children=1, mean=0.0, precision=1.0, tonic_volatility=-3.0)
    if levels == 3:
        net.add_nodes(volatility_children=2, mean=0.0, precision=1.0, tonic_volatility=-3.0)
    return net


class _TimedScan:
    """Wraps the ``scan`` that pyhgf's network module calls; records its wall time."""

    def __init__(self, scan):
        self.scan, self.last = scan, None

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        out = jax.block_until_ready(self.scan(*args, **kwargs))
        self.last = time.perf_counter() - t0
        return out


def _wrap_scan():
    mod = sys.modules[Network.__module__]
    if not hasattr(mod, "scan"):
        return None
    timed = _TimedScan(mod.scan)
    mod.scan = timed
    return timed


def main():
    job = json.loads(open(sys.argv[1]).read())
    timed = _wrap_scan()
    u = np.load(job["series"])
    out = []
    for levels, update in job["cases"]:
        t0 = time.perf_counter()
        net = build(levels, update)
        net.input_data(input_data=u)
        jax.block_until_ready(net.node_trajectories)
        first = time.perf_counter() - t0
        best = kernel = np.inf
        for _ in range(job["repeats"]):
            t0 = time.perf_counter()
            net.input_data(input_data=u)
            jax.block_until_ready(net.node_trajectories)
            best = min(best, time.perf_counter() - t0)
            if timed is not None and timed.last is not None:
                kernel = min(kernel, timed.last)
        means = [
            float(np.asarray(net.node_trajectories[i]["mean"])[-1]) for i in range(1, levels + 1)
        ]
        out.append(
            {
                "levels": levels,
                "update": update,
                "first_call_s": first,
                "steady_s": best,
                "kernel_s": None if not np.isfinite(kernel) else kernel,
                "n": int(u.size),
                "final_means": means,
            }
        )
    print(
        json.dumps(
            {"pyhgf": __import__("pyhgf").__version__, "jax": jax.__version__, "results": out}
        )
    )


if __name__ == "__main__":
    main()
