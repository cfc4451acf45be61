"""Front objects of the particle methods (MSIP, SHK): validated hyperparameters, no loop.

A particle method is a frozen dataclass derived from :class:`ParticleMethod`.  The
particle driver (:mod:`geobayes._particle_driver`) asks it for

* :attr:`ParticleMethod.step_fn` -- its jitted population step of type
  :data:`geobayes.samplers._population.POP_STEP`;
* :meth:`ParticleMethod.params_array` -- the step's constants for one replicate (it may
  use the replicate's generator, e.g. for a random rotation of an inner rule);
* :meth:`ParticleMethod.initial_aux` -- the initial persistent state ``aux``;
* ``extra_stat_names`` -- names of the stats columns after the fixed ones
  (:data:`geobayes.samplers._population.FIXED_STAT_NAMES`), and ``stat_names`` -- which of
  all the columns reach ``sample_stats`` (one value per iteration, dim ``iteration``);
* :meth:`ParticleMethod.error_message` -- the message for a fatal status code;
* :meth:`ParticleMethod.memory_bytes` -- the working memory for ``N`` particles (the
  driver refuses runs that do not fit);
* ``weighted`` -- whether the weights carry information (MSIP) or are all ``1/N`` (SHK).

and runs everything else itself (seeding, initial particles, threads over replicates,
progress bar, Ctrl-C, trace building).  The step contract is documented in
:mod:`geobayes.samplers._population`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from geobayes.samplers.base import check_flags

__all__ = ["ParticleMethod"]


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


@dataclass(frozen=True)
class ParticleMethod:
    """Common hyperparameters of the particle methods.

    Parameters
    ----------
    n_particles : int
        Number of particles ``N`` (>= 1) of each replicate.
    n_steps : int
        Iterations of the population step (>= 1).
    particle_history : bool
        Keep every iteration's particles and weights in a ``particle_history`` group
        (memory ``n_steps * N * (dim + 1)`` floats per replicate).
    init_scale : float, optional
        Initial particles uniform on ``[-init_scale, init_scale]^dim`` (unconstrained
        scale); by default each particle is drawn by the model's ``initial_point``
        (uniform(-2, 2) for the built-in models).  ``initial_points`` of
        :func:`geobayes.sample` overrides both.
    """

    n_particles: int = 100
    n_steps: int = 500
    particle_history: bool = False
    init_scale: float | None = None

    name: ClassVar[str] = "particle"
    family: ClassVar[str] = "particle"
    weighted: ClassVar[bool] = False
    extra_stat_names: ClassVar[tuple[str, ...]] = ()
    stat_names: ClassVar[tuple[str, ...]] = ("diverging",)

    def __post_init__(self):
        check_flags(self)
        _check_int("n_particles", self.n_particles, 1)
        _check_int("n_steps", self.n_steps, 1)
        if self.init_scale is not None and not (
            isinstance(self.init_scale, (int, float))
            and np.isfinite(self.init_scale)
            and self.init_scale > 0
        ):
            raise ValueError(f"init_scale must be a positive number, got {self.init_scale!r}")

    # --- what the driver asks for -------------------------------------------------------
    @property
    def step_fn(self):  # pragma: no cover - abstract
        """The method's jitted population step (type ``POP_STEP``)."""
        raise NotImplementedError

    def params_array(self, model, rng: np.random.Generator) -> np.ndarray:
        """Constants of the step for one replicate (empty by default)."""
        return np.zeros(0)

    def initial_aux(self, n: int, d: int) -> np.ndarray:
        """Initial persistent state of one replicate (empty by default)."""
        return np.zeros(0)

    def memory_bytes(self, n: int, d: int) -> int:
        """Working memory of one replicate in bytes (default: ``O(N d)``)."""
        return 8 * n * (d + 2) * 4

    def result_warning(self, xs: np.ndarray, ws: np.ndarray, model) -> str | None:
        """A message when the final particles ``xs`` (R, N, d) and weights ``ws`` (R, N)
        cannot be trusted, else ``None`` (the default: nothing to check)."""
        return None

    def error_message(self, code: int, model) -> str:
        """Message for a fatal status ``code`` returned by the step."""
        return f"{self.name}: the population step failed with status {code} on {model.name!r}"

    @property
    def all_stat_names(self) -> tuple[str, ...]:
        """Names of every stats column (fixed ones first)."""
        from geobayes.samplers._population import FIXED_STAT_NAMES

        return FIXED_STAT_NAMES + self.extra_stat_names

    def settings(self) -> dict:
        """All hyperparameters as a JSON-serializable dict (stored in trace attributes)."""
        out = {"method": self.name}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    def settings_json(self) -> str:
        """:meth:`settings` as a JSON string."""
        return json.dumps(self.settings())
