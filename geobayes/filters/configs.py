"""Named benchmark settings with their reference RMSEs (DAPPER ``mods`` files).

A :class:`Config` bundles a state-space model, the number of cycles, the
burn-in and the reference table of the source, as DAPPER keeps expected
RMSEs next to each setting.

* :func:`sakov2012` -- Lorenz-63, DAPPER ``mods/Lorenz63/sakov2012.py``
  (filters spec §7.1);
* :func:`sakov2008` -- Lorenz-96, DAPPER ``mods/Lorenz96/sakov2008.py``
  (filters spec §7.2).

Examples
--------
>>> cfg = sakov2012()
>>> cfg.n_cycles, cfg.burn_in
(1000, 64)
>>> [r.rmse for r in cfg.references if r.label == "ETKF N=10 infl=1.02 rot"]
[0.6]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import models
from .methods import ETKF, LETKF, EnKF, ParticleFilter
from .ssm import StateSpaceModel

__all__ = ["Config", "Reference", "sakov2012", "sakov2008", "get", "names"]


@dataclass(frozen=True)
class Reference:
    """A published analysis RMSE (``rmse.a``) for one method setting.

    ``method`` is the geobayes front object, or ``None`` for methods geobayes
    does not implement (kept for the table).
    """

    label: str
    rmse: float
    method: object | None = None


@dataclass(frozen=True)
class Config:
    """A benchmark setting.

    Parameters
    ----------
    name : str
    ssm : StateSpaceModel
    n_cycles : int
        Observation cycles (DAPPER's ``Ko``).
    burn_in : int
        Cycles excluded from the RMSE averages (DAPPER's ``BurnIn`` / obs interval).
    references : tuple of Reference
    source : str
    """

    name: str
    ssm: StateSpaceModel
    n_cycles: int
    burn_in: int
    references: tuple = field(default_factory=tuple)
    source: str = ""

    def simulate(self, seed=None):
        """Truth and observations for ``n_cycles`` cycles."""
        return self.ssm.simulate(self.n_cycles, seed=seed)

    def reference(self, label: str) -> Reference:
        """Look up a reference by its label."""
        for r in self.references:
            if r.label == label:
                return r
        raise KeyError(f"no reference {label!r}; have {[r.label for r in self.references]}")

    def run(self, method, seed=0, n_cycles=None, burn_in=None, **kwargs):
        """Simulate with ``seed`` and filter with ``method`` (same seed); returns the tree."""
        from .api import filter as _filter

        ssm = self.ssm
        K = self.n_cycles if n_cycles is None else int(n_cycles)
        ss = np.random.SeedSequence(seed)
        sim_ss, filt_ss = ss.spawn(2)
        x, y = ssm.simulate(K, seed=sim_ss)
        burn = min(self.burn_in, K // 2) if burn_in is None else int(burn_in)
        return _filter(ssm, y, method, seed=filt_ss, truth=x, burn_in=burn, **kwargs)


def sakov2012(n_cycles: int = 1000) -> Config:
    """Lorenz-63, Sakov, Oliver & Bertino (2012) Table 1 via DAPPER.

    ``dt = 0.01``, 25 steps per observation, ``H = I``, ``R = 2 I``,
    ``X0 = N((1.509, -1.531, 25.46), 2 I)``, burn-in 16 time units (64 cycles).
    """
    refs = (
        Reference("Climatology", 7.6),
        Reference("OptInterp", 1.25),
        Reference("3D-Var xB=0.1", 1.04),
        Reference("ExtKF infl=180", 0.92),
        Reference("ETKF N=3 infl=1.30", 0.80, ETKF(ensemble_size=3, inflation=1.30)),
        Reference(
            "ETKF N=10 infl=1.02 rot", 0.60, ETKF(ensemble_size=10, inflation=1.02, rotate=True)
        ),
        Reference("EnKF N=10 infl=1.04", 0.65, EnKF(ensemble_size=10, inflation=1.04)),
        Reference("EnKF N=100 infl=1.01", 0.56, EnKF(ensemble_size=100, inflation=1.01)),
        Reference("EnKF-N N=10 rot", 0.54),
        Reference("iEnKS N=10 infl=1.02 rot", 0.31),
        Reference(
            "PF N=100 reg=2.4 NER=0.3",
            0.38,
            ParticleFilter(ensemble_size=100, regularization=2.4, resample_threshold=0.3),
        ),
        Reference(
            "PF N=800 reg=0.9 NER=0.2",
            0.28,
            ParticleFilter(ensemble_size=800, regularization=0.9, resample_threshold=0.2),
        ),
        Reference(
            "PF N=4000 reg=0.7 NER=0.05",
            0.27,
            ParticleFilter(ensemble_size=4000, regularization=0.7, resample_threshold=0.05),
        ),
    )
    return Config(
        "sakov2012",
        models.lorenz63(),
        int(n_cycles),
        64,
        refs,
        "DAPPER dapper/mods/Lorenz63/sakov2012.py; Sakov et al. (2012) Table 1",
    )


def sakov2008(dim: int = 40, forcing: float = 8.0, n_cycles: int = 1000) -> Config:
    """Lorenz-96, Sakov & Oke (2008) via DAPPER.

    ``d = 40``, ``F = 8``, ``dt = 0.05``, every step observed, ``R = I``,
    ``X0 = N(e_1, 0.001 I)``, burn-in 20 time units (400 cycles).  The
    reference RMSEs hold for ``dim = 40, forcing = 8``; the LETKF reference uses
    DAPPER's localizer of this file, batches of 2 state components.
    """
    refs = (
        Reference("Climatology", 3.6),
        Reference("OptInterp", 0.95),
        Reference("3D-Var xB=0.02", 0.41),
        Reference("ExtKF infl=10", 0.24),
        Reference("EnKF N=40 infl=1.06", 0.22, EnKF(ensemble_size=40, inflation=1.06)),
        Reference("EnKF N=28 infl=1.08", 0.24, EnKF(ensemble_size=28, inflation=1.08)),
        Reference("DEnKF N=40 infl=1.01", 0.18),
        Reference(
            "ETKF N=24 infl=1.013 rot", 0.18, ETKF(ensemble_size=24, inflation=1.013, rotate=True)
        ),
        Reference("EnKF-N N=24 rot", 0.21),
        Reference(
            "LETKF N=7 infl=1.04 loc=4 rot",
            0.22,
            LETKF(
                ensemble_size=7, inflation=1.04, localization_radius=4.0, rotate=True, batch_size=2
            ),
        ),
        Reference("Serial EnSRF N=28 infl=1.02 rot", 0.18),
        Reference(
            "PF N=3000 NER=0.5 reg=0.7 (Ko=10000)",
            0.26,
            ParticleFilter(ensemble_size=3000, resample_threshold=0.5, regularization=0.7),
        ),
    )
    return Config(
        "sakov2008",
        models.lorenz96(dim=dim, forcing=forcing),
        int(n_cycles),
        400,
        refs,
        "DAPPER dapper/mods/Lorenz96/sakov2008.py; Sakov & Oke (2008)",
    )


_CONFIGS = {"sakov2012": sakov2012, "sakov2008": sakov2008}


def names() -> list[str]:
    """Names of the configurations."""
    return sorted(_CONFIGS)


def get(name: str, **kwargs) -> Config:
    """A configuration by name."""
    if name not in _CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; valid: {', '.join(names())}")
    return _CONFIGS[name](**kwargs)
