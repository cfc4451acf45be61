"""Run DAPPER experiments described as JSON; print one JSON result per line.

Runs inside DAPPER's own virtual environment (Python 3.11, ``dapper==1.7``),
started by ``run.py``.  Input: a JSON list of jobs on stdin, each

    {"setting": "sakov2012" | "sakov2008", "dim": 40, "Ko": 1000, "seed": 0,
     "method": "EnKF" | "LETKF" | "PartFilt", "kwargs": {...}, "label": "..."}

Output per job: ``{"label", "seed", "rmse", "spread", "seconds", "cycles"}``
where ``seconds`` is the wall time of ``xp.assimilate`` only (DAPPER computes
its statistics inside it; the truth simulation is not timed).
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import dapper as dpr  # noqa: E402
import dapper.da_methods as da  # noqa: E402
import dapper.mods as modelling  # noqa: E402
import dapper.tools.progressbar as pb  # noqa: E402
import numpy as np  # noqa: E402

pb.disable_progbar = True


def build_hmm(setting, dim, Ko):
    if setting == "sakov2012":
        from dapper.mods.Lorenz63.sakov2012 import HMM

        HMM = HMM.copy()
        HMM.tseq.Ko = Ko
        return HMM
    from dapper.mods.Lorenz96 import Tplot, step, x0
    from dapper.tools.localization import nd_Id_localization

    tseq = modelling.Chronology(0.05, dko=1, Ko=Ko, Tplot=Tplot, BurnIn=2 * Tplot)
    Dyn = {"M": dim, "model": step, "noise": 0}
    X0 = modelling.GaussRV(mu=x0(dim), C=0.001)
    jj = np.arange(dim)
    Obs = modelling.partial_Id_Obs(dim, jj)
    Obs["noise"] = 1
    Obs["localizer"] = nd_Id_localization((dim,), (2,))
    return modelling.HiddenMarkovModel(Dyn, Obs, tseq, X0)


def run(job):
    HMM = build_hmm(job["setting"], job.get("dim", 40), job["Ko"])
    if job.get("burn_in_time") is not None:
        HMM.tseq.BurnIn = job["burn_in_time"]
    method = getattr(da, job["method"])
    args = job.get("args", [])
    xp = method(*args, **job["kwargs"])
    dpr.set_seed(job["seed"] + 1)
    xx, yy = HMM.simulate()
    t0 = time.perf_counter()
    xp.assimilate(HMM, xx, yy)
    seconds = time.perf_counter() - t0
    xp.stats.average_in_time()
    return {
        "label": job["label"],
        "seed": job["seed"],
        "rmse": float(xp.avrgs.err.rms.a.val),
        "spread": float(xp.avrgs.spread.rms.a.val),
        "seconds": seconds,
        "cycles": int(HMM.tseq.Ko) + 1,
    }


if __name__ == "__main__":
    jobs = json.load(sys.stdin)
    for job in jobs:
        try:
            out = run(job)
        except Exception as exc:  # report and go on
            out = {"label": job["label"], "seed": job["seed"], "error": repr(exc)}
        print(json.dumps(out), flush=True)
