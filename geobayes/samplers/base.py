"""Front objects of the samplers: validated hyperparameters, no loop logic.

A method is a small frozen dataclass.  The driver (:mod:`geobayes.driver`) asks it for
its jitted step function (:attr:`SamplerMethod.step_fn`, of type
:data:`geobayes.samplers._chunk.STEP`), its parameter vector and the names of the
statistics it reports, and runs everything else itself.  A new single-chain method is a
step function plus a dataclass of about twenty lines.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

__all__ = ["SamplerMethod"]


@dataclass(frozen=True)
class SamplerMethod:
    """Common hyperparameters of the single-chain MCMC methods.

    Parameters
    ----------
    step_size : float, optional
        Initial step size (> 0); ``None`` lets the driver find one (Stan's heuristic).
    target_accept : float
        Acceptance rate targeted by dual averaging during warmup, in (0, 1).
    adapt_step_size : bool
        Tune the step size during warmup.
    adapt_mass_matrix : bool
        Adapt a diagonal metric in Stan's windows during warmup.
    inv_mass : array of shape (dim,), optional
        Initial diagonal inverse mass matrix (positive); identity by default.
    """

    step_size: float | None = None
    target_accept: float = 0.8
    adapt_step_size: bool = True
    adapt_mass_matrix: bool = False
    inv_mass: np.ndarray | None = field(default=None, repr=False, compare=False)

    name: ClassVar[str] = "base"
    family: ClassVar[str] = "chain"
    stat_names: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self):
        if self.step_size is not None:
            if isinstance(self.step_size, bool) or not isinstance(
                self.step_size, (int, float, np.floating)
            ):
                raise TypeError(f"step_size must be a number, got {type(self.step_size).__name__}")
            if not (np.isfinite(self.step_size) and self.step_size > 0):
                raise ValueError(
                    f"step_size must be a positive finite number, got {self.step_size}; "
                    "leave it as None to have one found automatically"
                )
        if not (isinstance(self.target_accept, (int, float)) and 0 < self.target_accept < 1):
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept!r}")
        if self.inv_mass is not None:
            arr = np.asarray(self.inv_mass, dtype=float)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError("inv_mass must be a 1-D array of positive finite numbers")
            object.__setattr__(self, "inv_mass", arr)

    @property
    def step_fn(self):  # pragma: no cover - abstract
        """The method's jitted step function."""
        raise NotImplementedError

    def params_array(self) -> np.ndarray:
        """Hyperparameters the step reads, as a float64 vector (empty by default)."""
        return np.zeros(0)

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
