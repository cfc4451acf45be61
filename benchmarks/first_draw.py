"""Time to first draw in a fresh process, with Numba's on-disk cache cold and warm.

Each measurement starts a new Python process that imports geobayes and samples the
100-D standard Gaussian with HMC (4 chains x (1000 warmup + 1000 draws)), timing from
interpreter start to the returned trace.  "cold" uses an empty ``NUMBA_CACHE_DIR`` (every
kernel compiles); "warm" reuses it.  Run: ``python -m benchmarks.first_draw``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

__all__ = ["run"]

_CODE = """
import time
t0 = time.perf_counter()
import geobayes
t1 = time.perf_counter()
tr = geobayes.sample(geobayes.models.gaussian(dim=100), method="hmc", chains=4, draws=1000,
                     warmup=1000, seed=0, progress=False)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, tr.attrs["sampling_time"])
"""


def _one(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    import time

    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CODE], env=env, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - t
    imp, sample, sampling = (float(v) for v in out.stdout.split())
    return {"wall_s": wall, "import_s": imp, "sample_call_s": sample, "sampling_s": sampling}


def run(warm_repeats: int = 3) -> dict:
    """Cold then warm measurements in fresh processes."""
    with tempfile.TemporaryDirectory() as cache:
        cold = _one(cache)
        warm = [_one(cache) for _ in range(warm_repeats)]
    best = min(warm, key=lambda r: r["wall_s"])
    return {"cold": cold, "warm": best}


def format_table(result: dict) -> str:
    lines = [f"{'cache':<6} {'wall s':>8} {'import s':>9} {'sample() s':>11} {'sampling s':>11}"]
    for k in ("cold", "warm"):
        r = result[k]
        lines.append(
            f"{k:<6} {r['wall_s']:>8.2f} {r['import_s']:>9.2f} {r['sample_call_s']:>11.2f} "
            f"{r['sampling_s']:>11.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    res = run()
    print(format_table(res))
    print(json.dumps(res, indent=1))
