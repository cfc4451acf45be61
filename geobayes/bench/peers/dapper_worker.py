"""Run DAPPER experiments described as JSON; print one JSON result per line.

Runs inside DAPPER's own virtual environment (Python 3.11, ``dapper==1.7``),
started by ``run.py``.  Input: a JSON list of jobs on stdin, each

    {"setting": "sakov2012" | "sakov2008", "dim": 40, "Ko": 1000, "seed": 0,
     "method": "EnKF" | "LETKF" | "PartFilt", "kwargs": {...}, "label": "..."}

Output per job: ``{"label", "seed", "rmse", "spread", "seconds", "cycles"}``
where ``seconds`` is the wall time of ``xp.assimilate`` only (DAPPER computes
its statistics inside it; the truth simulation is not timed).

Optional job keys (used by ``benchmarks/filters/run.py``):

* ``"light": true`` -- DAPPER's light statistics mode (``rc.comps.error_only``
  in 1.8, ``rc.comps["error_only"]`` in 1.7): only the errors are computed
  inside ``assimilate``; the RMSE is the same, ``spread`` is then absent;
* ``"save": path`` -- write the simulated truth at the observation times and
  the observations (``xx``, ``yy``) to an ``.npz`` file, so that geobayes filters
  the same data;
* ``"load": path`` -- use the truth and observations saved there instead of
  simulating (the full truth trajectory ``xx_full`` is stored for this).

With ``--serve`` the worker reads one JSON job per line and answers each at
once (so that a caller can alternate DAPPER with its own runs).
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
    if hasattr(modelling, "Operator"):  # DAPPER 1.8 wants Operator objects, 1.7 dicts
        Dyn, Obs = modelling.Operator(**Dyn), modelling.Operator(**Obs)
    return modelling.HiddenMarkovModel(Dyn, Obs, tseq, X0)


def _set_light(on):
    comps = dpr.rc.comps
    if isinstance(comps, dict):  # DAPPER 1.7
        comps["error_only"] = bool(on)
    else:  # DAPPER 1.8: a dataclass
        comps.error_only = bool(on)


def run(job):
    HMM = build_hmm(job["setting"], job.get("dim", 40), job["Ko"])
    if job.get("burn_in_time") is not None:
        HMM.tseq.BurnIn = job["burn_in_time"]
    method = getattr(da, job["method"])
    args = job.get("args", [])
    xp = method(*args, **job["kwargs"])
    if job.get("load"):
        with np.load(job["load"]) as f:
            xx, yy = f["xx_full"], f["yy"]
    else:
        dpr.set_seed(job["seed"] + 1)
        xx, yy = HMM.simulate()
    if job.get("save"):
        yy = np.stack([np.asarray(v, float) for v in yy])
        np.savez(job["save"], xx=xx[HMM.tseq.kko], yy=yy, xx_full=xx)
    dpr.set_seed(job["seed"] + 1001)
    light = bool(job.get("light", False))
    _set_light(light)
    try:
        t0 = time.perf_counter()
        xp.assimilate(HMM, xx, yy)
        seconds = time.perf_counter() - t0
    finally:
        _set_light(False)
    xp.stats.average_in_time()
    out = {
        "label": job["label"],
        "seed": job["seed"],
        "rmse": float(xp.avrgs.err.rms.a.val),
        "seconds": seconds,
        "cycles": int(HMM.tseq.Ko) + 1,
        "light": light,
    }
    if not light:
        out["spread"] = float(xp.avrgs.spread.rms.a.val)
    return out


def _answer(job):
    try:
        out = run(job)
    except Exception as exc:  # report and go on
        out = {"label": job["label"], "seed": job["seed"], "error": repr(exc)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        for line in sys.stdin:
            if line.strip():
                _answer(json.loads(line))
    else:
        for job in json.load(sys.stdin):
            _answer(job)
