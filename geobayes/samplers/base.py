"""Front objects of the samplers: validated hyperparameters, no loop logic.

A method is a small frozen dataclass.  The driver (:mod:`geobayes.driver`) asks it for
its jitted step function (:attr:`SamplerMethod.step_fn`, of type
:data:`geobayes.samplers._chunk.STEP`), its parameter vector, its initial metric, the
names of the extra statistics columns its step writes (``extra_stat_names``) and which
statistics reach the trace (``stat_names``), and runs everything else itself.  A new
single-chain method is a step function plus a dataclass of about twenty lines.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from geobayes.adaptation.mass_matrix import warmup_schedule
from geobayes.samplers._chunk import BASE_STAT_NAMES, N_BASE_STATS, welford_size
from geobayes.samplers._integrators import dense_metric, diag_metric

__all__ = ["SamplerMethod"]

#: length of the early metric windows of ``step_size_adaptation="auto"`` (nutpie: 10)
EARLY_WINDOW = 10
#: final step-size window of ``step_size_adaptation="auto"``, a fraction of the warmup
#: (nutpie: 0.15); chains the divergence guard switched keep Stan's terminal buffer
FINAL_WINDOW = 0.15
#: ``step_size_adaptation="auto"``: search a step size for the first adapted metric
#: (nutpie's re-initialisation after its first metric change) instead of carrying over
#: the step tuned for the initial metric
SEARCH_STEP = True
#: ``step_size_adaptation="auto"``: how the final step size averages the dual-averaging
#: iterates of the final window (:func:`geobayes.adaptation.warmup_schedule`)
FINAL_AVERAGE = "uniform"
#: ``step_size_adaptation="auto"`` with the gradient metric and no ``inv_mass``: start
#: from nutpie's metric ``M^-1 = diag(1 / |grad|)`` at the initial point, not the identity
GRAD_INIT = True
#: ``step_size_adaptation="auto"``: dual averaging reads nutpie's symmetric acceptance
#: statistic in the last iterations of the warmup, from this many iterations before the
#: final window (nutpie: its metric switch frequency, 80); 0: never
SYM_LATE = 80


def check_flags(method) -> None:
    """Every field of ``method`` whose default is ``True``/``False`` must be a bool.

    A truthy string or number (``"no"``, ``2``) would otherwise be taken silently.
    """
    for f in fields(method):
        if isinstance(f.default, bool):
            value = getattr(method, f.name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{f.name} must be True or False, got {value!r}")


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
        Adapt the metric in Stan's windows during warmup.
    inv_mass : array of shape (dim,) or (dim, dim), optional
        Initial inverse mass matrix: a positive diagonal, or (dense metric only) a
        symmetric positive definite matrix; identity by default.
    metric : {"diag", "dense"}
        Diagonal metric (Stan's ``diag_e``) or dense one (``dense_e``), adapted in the
        same windows.
    step_size_adaptation : {"stan", "single", "auto"}
        ``"stan"`` (the default of this base class, HMC and MALA): dual averaging
        restarts at the end of every metric window and the final step size is its
        average over the last window (the terminal 50 iterations), as Stan does.
        ``"single"``: one dual averaging restarted only after the first window and run
        through the rest of the warmup (as nutpie's nuts-rs and PyMC), its average
        restarted at each later window end so that the final step size averages iterates
        made with the final metric.  Stan's short restarted runs end with a step size
        below the one the target asks for (realized acceptance 0.85-0.94 for a target of
        0.8 on the posteriordb models, and 1.5-2x the gradients per draw on some);
        ``"single"`` ends near the target (0.79-0.85) and gives 1.1-1.5x the ESS per
        gradient on most of them, but, exactly on target, more divergences on posteriors
        with funnels (``gp_pois_regr``, eight schools).  ``"auto"`` (NUTS's default):
        ``"single"`` with, for a gradient-based metric, nutpie's early phase (initial
        metric ``M^-1 = diag(1/|grad|)`` at the initial point unless ``inv_mass`` is
        given, metric windows of 10 iterations in Stan's initial 75-iteration buffer,
        and a step-size search for the first adapted metric, around which dual averaging
        restarts), nutpie's end of warmup for a chain the guard did not switch (its
        metric frozen for the last 15 % of the warmup, whose dual-averaging iterates
        the final step size averages uniformly; from 80 iterations before that window
        dual averaging reads NUTS's symmetric acceptance statistic), and a divergence
        guard per chain.  A chain that diverges at least
        twice between the end of the second metric window and the end of the last one
        (iterations 150-949 of a 1000-iteration warmup) ends its warmup with Stan's
        scheme: the last window's metric is its draws' regularized variance, and dual
        averaging restarts for the terminal buffer.  So funnels get Stan's adaptation
        and well-behaved posteriors nutpie's (benchmarks/pymc/RESULTS.md).  A warmup
        with fewer than three metric windows (under 300 iterations) uses Stan's scheme.
    metric_adaptation : {"draws", "grad", "auto"}
        How the diagonal metric is estimated in each window: ``"draws"`` (Stan's
        regularized variance of the draws; the default of this base class, HMC and MALA)
        or ``"grad"``, nutpie's ``M^-1 = sqrt(var(draws) / var(gradients))`` (diagonal
        metric only).  With ``"single"`` it reaches nutpie's ESS per gradient on
        regression-type models, but it takes 5x larger steps on the ``gp_pois_regr``
        funnel, where a chain got stuck in one of 5 four-chain runs.  ``"auto"`` (NUTS's
        default): ``"grad"`` with a diagonal metric, ``"draws"`` with a dense one; a
        chain the divergence guard switched to Stan's scheme takes ``"draws"`` for its
        last window.
    """

    step_size: float | None = None
    target_accept: float = 0.8
    adapt_step_size: bool = True
    adapt_mass_matrix: bool = False
    inv_mass: np.ndarray | None = field(default=None, repr=False, compare=False)
    metric: str = field(default="diag", repr=False)
    step_size_adaptation: str = field(default="stan", repr=False)
    metric_adaptation: str = field(default="draws", repr=False)

    name: ClassVar[str] = "base"
    family: ClassVar[str] = "chain"
    #: warmup iterations when ``geobayes.sample`` is not given ``warmup``
    default_warmup: ClassVar[int] = 1000
    family: ClassVar[str] = "chain"
    #: names of the statistics columns the step writes after the fixed ones
    #: (:data:`geobayes.samplers._chunk.BASE_STAT_NAMES`)
    extra_stat_names: ClassVar[tuple[str, ...]] = ()
    #: statistics (fixed or extra columns, by name) that reach ``sample_stats``
    stat_names: ClassVar[tuple[str, ...]] = ()
    #: the step writes a symmetric acceptance statistic in its last statistics column
    sym_accept: ClassVar[bool] = False

    def __post_init__(self):
        check_flags(self)
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
        if self.metric not in ("diag", "dense"):
            raise ValueError(f"metric must be 'diag' or 'dense', got {self.metric!r}")
        if self.step_size_adaptation not in ("auto", "stan", "single"):
            raise ValueError(
                "step_size_adaptation must be 'auto', 'stan' or 'single', got "
                f"{self.step_size_adaptation!r}"
            )
        if self.metric_adaptation not in ("auto", "draws", "grad"):
            raise ValueError(
                "metric_adaptation must be 'auto', 'draws' or 'grad', got "
                f"{self.metric_adaptation!r}"
            )
        if self.metric_adaptation == "grad" and self.metric != "diag":
            raise ValueError(
                "metric_adaptation='grad' estimates a diagonal metric: use it with "
                "metric='diag' (or metric_adaptation='draws' with metric='dense')"
            )
        if self.inv_mass is not None:
            try:
                arr = np.asarray(self.inv_mass, dtype=float)
            except (TypeError, ValueError):
                raise TypeError(
                    f"inv_mass must be an array of numbers, got {type(self.inv_mass).__name__}"
                ) from None
            if arr.ndim == 2 and self.metric == "dense":
                dense_metric(arr)  # raises a ValueError unless symmetric positive definite
            elif arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise ValueError(
                    "inv_mass must be a 1-D array of positive finite numbers "
                    "(or, with metric='dense', a symmetric positive definite matrix)"
                )
            object.__setattr__(self, "inv_mass", arr)

    @property
    def step_fn(self):  # pragma: no cover - abstract
        """The method's jitted step function."""
        raise NotImplementedError

    @property
    def n_stats(self) -> int:
        """Width of the statistics row: the fixed columns plus ``extra_stat_names``."""
        return N_BASE_STATS + len(self.extra_stat_names)

    @property
    def all_stat_names(self) -> tuple[str, ...]:
        """Names of every column of the statistics row."""
        return BASE_STAT_NAMES + tuple(self.extra_stat_names)

    def metric_array(self, dim: int) -> np.ndarray:
        """Initial metric vector for the step and runner (layout in
        :mod:`geobayes.samplers._integrators`)."""
        inv = self.inv_mass
        if self.metric == "dense":
            if inv is None:
                inv = np.eye(dim)
            elif inv.ndim == 1:
                inv = np.diag(inv)
            if inv.shape != (dim, dim):
                raise ValueError(f"inv_mass must have shape ({dim}, {dim}), got {inv.shape}")
            return dense_metric(inv)
        if inv is None:
            return np.ones(dim)
        if inv.shape != (dim,):
            raise ValueError(f"inv_mass must have shape ({dim},), got {inv.shape}")
        return diag_metric(inv)

    def initial_metric(self, dim: int, g: np.ndarray) -> np.ndarray:
        """The chain's initial metric given the gradient ``g`` at its initial point:
        :meth:`metric_array`, or for ``"auto"`` adaptation of a diagonal gradient metric
        without ``inv_mass`` nutpie's ``M^-1 = diag(1 / |g|)`` (clipped to
        ``[1e-10, 1e10]``; 1 where ``g`` is not finite)."""
        if not (
            GRAD_INIT
            and self.inv_mass is None
            and self.adapt_mass_matrix
            and self.step_size_adaptation == "auto"
            and self.grad_metric
        ):
            return self.metric_array(dim)
        a = np.abs(np.asarray(g, dtype=np.float64))
        inv = np.where(np.isfinite(a), 1.0 / np.clip(a, 1e-10, 1e10), 1.0)
        return np.ascontiguousarray(np.sqrt(inv))

    @property
    def grad_metric(self) -> bool:
        """Whether the diagonal metric is estimated from draws and gradients
        (``metric_adaptation`` ``"grad"``, or ``"auto"`` with ``metric="diag"``)."""
        if self.metric_adaptation == "auto":
            return self.metric == "diag"
        return self.metric_adaptation == "grad"

    def warmup_flags(self, warmup: int) -> np.ndarray:
        """Per-iteration adaptation flags of the warmup (:func:`warmup_schedule`)."""
        return warmup_schedule(
            warmup,
            self.adapt_step_size,
            self.adapt_mass_matrix,
            restart="windows" if self.step_size_adaptation == "stan" else "first",
            grad=self.grad_metric,
            guard=self.step_size_adaptation == "auto",
            early=EARLY_WINDOW if self.step_size_adaptation == "auto" and self.grad_metric else 0,
            final=FINAL_WINDOW if self.step_size_adaptation == "auto" else 0.0,
            search=SEARCH_STEP and self.step_size_adaptation == "auto",
            final_average=FINAL_AVERAGE if self.step_size_adaptation == "auto" else "restart",
            sym=SYM_LATE if self.sym_accept and self.step_size_adaptation == "auto" else 0,
        )

    def welford_size(self, dim: int) -> int:
        """Length of the chain's Welford accumulator for this metric adaptation."""
        return welford_size(dim, self.metric == "dense", self.grad_metric)

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
