"""Is the cubic Lorenz-63 posterior Gaussian?  Large-N EnKF/ETKF and PF references.

For seeds 5 and 6 (held-out seeds of the transport benchmark, same data as
``transport_bench.py --first-seed 5``), 150 cycles, burn-in 64:

* time-mean RMSE/spread of the EnKF at N = 100, 400, 2000, the ETKF at N = 2000 and
  particle filters with N = 2000 (the benchmark's reference) and N = 10000;
* the energy distance between the N = 10000 PF posterior and a Gaussian with its mean
  and covariance, against the energy distance between two resamples of the PF posterior
  (the resolution of the check), every 10th cycle after burn-in, 400 draws each.

Usage (from the repository root, untimed)::

    .venv/bin/python benchmarks/filters/transport_cubic_gaussianity.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from transport_bench import _pf_reference, energy_distance  # noqa: E402

from geobayes.filters import ETKF, EnKF, models  # noqa: E402
from geobayes.filters import filter as run_filter  # noqa: E402


def main():
    ssm = models.get("lorenz63_cubic")
    K, burn = 150, 64
    for s in (5, 6):
        x, y = ssm.simulate(K, seed=np.random.SeedSequence([s, 17]))
        res = {}
        for label, m in [
            ("EnKF100", EnKF(ensemble_size=100, inflation=1.01)),
            ("EnKF400", EnKF(ensemble_size=400, inflation=1.0)),
            ("EnKF2000", EnKF(ensemble_size=2000, inflation=1.0)),
            ("ETKF2000", ETKF(ensemble_size=2000, inflation=1.0)),
        ]:
            t = run_filter(ssm, y, m, seed=s, truth=x, burn_in=burn)
            res[label] = (round(t.attrs["rmse_mean"], 4), round(t.attrs["spread_mean"], 4))
        ref = _pf_reference(ssm, y, 1000 + s, 2000, 0.9, 0.3)
        ref2 = _pf_reference(ssm, y, 2000 + s, 10000, 0.5, 0.3)
        for lab, r in (("PF2000", ref), ("PF10000 reg .5", ref2)):
            mean = r.filtered["mean"].values
            rmse = float(np.mean(np.sqrt(((mean - x) ** 2).mean(1))[burn:]))
            spread = float(r.sample_stats["spread"].values[burn:].mean())
            res[lab] = (round(rmse, 4), round(spread, 4))
        E = ref2.posterior["ensemble"].values[0]
        lw = ref2.posterior["log_weight"].values[0]
        rng = np.random.default_rng(0)
        eg, en = [], []
        for k in range(burn, K, 10):
            w = np.exp(lw[:, k] - lw[:, k].max())
            w /= w.sum()
            mu = w @ E[:, k]
            C = ((E[:, k] - mu).T * w) @ (E[:, k] - mu)
            a = E[rng.choice(len(w), 400, p=w), k]
            b = E[rng.choice(len(w), 400, p=w), k]
            g = rng.multivariate_normal(mu, C, 400)
            eg.append(energy_distance(a, g))
            en.append(energy_distance(a, b))
        res["ED(PF, Gaussian fit)"] = float(np.median(eg))
        res["ED(PF, PF resample)"] = float(np.median(en))
        print(s, res, flush=True)


if __name__ == "__main__":
    main()
