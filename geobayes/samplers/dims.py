r"""DIMS: sampling loss minima with dissipative Riemannian mechanics.

Jacobsen, Jakobsen, Gegenfurtner & Arvanitidis, "Don't Stop Me Yet: Sampling Loss Minima
via Dissipative Riemannian Mechanics" (arXiv 2605.15459).  A ball with kinetic energy,
pulled down the loss surface by gravity and slowed by friction, moves on the surface's
Riemannian metric until it stops; it can only stop where the gradient vanishes, so every
draw lies on a minimum level set.  Each draw is one *kick-dissipate* trajectory started
from the previous stopping point (a chain method): kick with kinetic energy ``K0``,
integrate until ``1/2 v^T G v < tol_kinetic`` **and** ``|grad L| < tol_grad``.

Physical hyperparameters [spec section 3.2]:

* ``escape_height = K0 / gravity`` is the highest loss barrier a kick can cross (energy
  never increases, so ``L(theta_t) <= L(theta_0) + K0/g``);
* ``exploration_length = sqrt(2 K0) / friction`` is how far a kick carries the ball
  along a flat valley floor (a ball entering the floor at speed ``s`` travels ``s/gamma``);
* ``metric_scale`` (lambda) weights the loss axis in the graph metric
  ``G = I + lambda grad L grad L^T`` (0 = Euclidean, the damped heavy ball).

The model enters as any :class:`~geobayes.models.Model`; its loss is the negative log
density (``Model.loss_and_grad``).  The output is a set of points on the minimum set, used
as an equally weighted ensemble (not a Gibbs posterior: there is no density, the weights are
uniform by construction and R-hat/ESS within a chain describe the kick random walk only).
Draws that reach ``max_time`` (or ``max_steps``) before stopping are flagged ``hit_T_max``
in ``sample_stats`` and a warning names them; the predictive helpers drop them.

Kernels and integrators: :mod:`geobayes.samplers._dims_kernels`.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("ring", method="dims", draws=20, chains=2, seed=0,
...                         progress=False, kinetic_energy=0.05)
>>> import numpy as np
>>> r = np.hypot(*np.moveaxis(trace.posterior["theta"].values, -1, 0))
>>> bool(np.all(np.abs(r - 1) < 1e-5))
True
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from geobayes._lazy import lazy_njit
from geobayes.samplers import _dims_kernels as _k
from geobayes.samplers._chunk import STEP_SIG
from geobayes.samplers.base import SamplerMethod

__all__ = ["DIMS", "Geometry", "Integrator", "KickLaw", "dims_step", "converged"]


class Geometry(IntEnum):
    """Riemannian metric the ball moves on (spec: ``metric``)."""

    #: graph metric of the loss surface, ``G = I + metric_scale grad L grad L^T`` (default)
    GRAPH = _k.METRIC_GRAPH
    #: ``G = I``: the damped heavy-ball ODE (no Hessian-vector products)
    EUCLIDEAN = _k.METRIC_EUCLIDEAN


class Integrator(IntEnum):
    """Time stepping (both second order, energy safeguard, see the kernels module)."""

    #: velocity Verlet with friction split ``exp(-gamma h/2)`` around the kicks (default)
    VERLET = _k.INTEGRATOR_VERLET
    #: kick / exact damped drift / kick: travels exactly ``s/gamma`` along flat floors
    DAMPED_DRIFT = _k.INTEGRATOR_DAMPED_DRIFT


class KickLaw(IntEnum):
    """Law of the initial velocity of each draw."""

    #: kinetic energy exactly ``K0``, direction isotropic in the metric (default)
    FIXED_ENERGY = _k.KICK_FIXED_ENERGY
    #: Maxwell kicks ``v ~ N(0, (2 K0 / d) G^{-1})`` (mean kinetic energy ``K0``)
    MAXWELL = _k.KICK_MAXWELL


_EXTRA = _k.EXTRA_STAT_NAMES[: _k.S_NGRAD]  # n_grad and diverging go to the fixed columns


@lazy_njit(STEP_SIG, cache=True, nogil=True)
def dims_step(rng, x, lp, g, lpg, fdata, idata, step_size, metric, params, stats):
    """One DIMS draw as a chain step (the :data:`geobayes.samplers._chunk.STEP` contract).

    Converts the log-density view ``(lp, g)`` to the loss view, runs
    :func:`~geobayes.samplers._dims_kernels.dims_transition` (the step size is
    ``params``' ``h0``, equal to ``step_size``; ``metric`` is unused: the geometry is the
    loss surface's own) and writes ``acceptance_rate = 1``, ``n_steps`` (gradient
    evaluations), ``diverging``, ``energy`` (final) and the DIMS columns.
    """
    d = x.shape[0]
    gl = np.empty(d)
    for i in range(d):
        gl[i] = -g[i]
    st = np.zeros(_k.N_EXTRA)
    xn, ln, gn = _k.dims_transition(rng, x, -lp, gl, lpg, fdata, idata, params, st)
    gout = np.empty(d)
    for i in range(d):
        gout[i] = -gn[i]
    stats[2] = 1.0
    stats[3] = st[_k.S_NGRAD]
    stats[4] = st[_k.S_DIV]
    stats[5] = st[_k.S_E1]
    for j in range(_k.S_NGRAD):
        stats[6 + j] = st[j]
    return xn, -ln, gout


def _number(name, value, *, positive=False, nonnegative=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _enum(cls, name, value):
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            pass
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        try:
            return cls(int(value))
        except ValueError:
            pass
    choices = ", ".join(m.name.lower() for m in cls)
    raise ValueError(f"{name} must be one of {choices} (or {cls.__name__}.X), got {value!r}")


@dataclass(frozen=True)
class DIMS(SamplerMethod):
    """Dissipative Riemannian mechanics sampler of loss minima (kick-dissipate chains).

    Parameters
    ----------
    gravity : float
        ``g`` > 0, strength of the pull toward lower loss.
    friction : float, optional
        ``gamma`` > 0, dissipation rate (default 1, or from ``exploration_length``).
    kinetic_energy : float, optional
        ``K0`` > 0 injected by each kick (default ``gravity * escape_height``).
    escape_height : float, optional
        ``K0 / g``: the largest loss barrier a kick can cross (default 0.1 when
        ``kinetic_energy`` is not given).  Give one of the two.
    exploration_length : float, optional
        ``sqrt(2 K0) / gamma``: travel along a flat valley per kick; sets ``friction``
        (give one of the two).
    metric_scale : float
        ``lambda`` >= 0 of the graph metric ``G = I + lambda grad L grad L^T``.
    geometry : Geometry or str
        ``"graph"`` (default) or ``"euclidean"`` (``G = I``, heavy ball).
    integrator : Integrator or str
        ``"verlet"`` (friction split, default) or ``"damped_drift"``.
    kick : KickLaw or str
        ``"fixed_energy"`` (default) or ``"maxwell"``.
    exact_curvature : bool
        Solve the implicit half kick exactly (one more Hessian-vector product per step).
    step_size : float, optional
        Initial integration step ``h`` (default ``min(0.1/omega, 0.15/gamma)`` with
        ``omega = sqrt(g kappa)``, ``kappa`` the top Hessian eigenvalue at the start).
    max_step_size : float, optional
        Cap of the adaptive step (default ``min(10 h, 0.15/gamma)``).
    adaptive : bool
        Energy safeguard with step halving/growth (default True); False = fixed step.
    tol_energy : float
        Relative energy increase that makes the safeguard redo a step.
    tol_kinetic : float, optional
        Stop when the kinetic energy is below this (default ``1e-10 K0``) ...
    tol_grad : float
        ... and the loss gradient norm is below this (default 1e-6).
    max_time : float, optional
        ``T_max``: integration time after which a draw is flagged ``hit_T_max``
        (default ``50 max(1/gamma, gamma/omega^2)``, spec correction 3.10.3).
    max_steps : int
        Cap on accepted integration steps per draw (also flags ``hit_T_max``).
    find_minimum : bool
        Minimize the loss (scipy L-BFGS-B) from each chain's start before the first kick.
    fd_eps : float
        Relative step of the finite-difference Hessian-vector products.

    Examples
    --------
    >>> from geobayes.samplers.dims import DIMS
    >>> m = DIMS(gravity=2.0, escape_height=0.5, exploration_length=1.0)
    >>> m.kinetic_energy_value, round(m.friction_value, 6)
    (1.0, 1.414214)
    >>> DIMS(friction=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: friction must be > 0 (it dissipates the kick's energy so the ball stops), got -1.0
    """

    gravity: float = 1.0
    friction: float | None = None
    kinetic_energy: float | None = None
    escape_height: float | None = None
    exploration_length: float | None = None
    metric_scale: float = 1.0
    geometry: Geometry = Geometry.GRAPH
    integrator: Integrator = Integrator.VERLET
    kick: KickLaw = KickLaw.FIXED_ENERGY
    exact_curvature: bool = False
    max_step_size: float | None = None
    adaptive: bool = True
    tol_energy: float = 1e-6
    tol_kinetic: float | None = None
    tol_grad: float = 1e-6
    max_time: float | None = None
    max_steps: int = 1_000_000
    find_minimum: bool = True
    fd_eps: float = 1e-6
    adapt_step_size: bool = False

    name = "dims"
    default_warmup = 0
    extra_stat_names = _EXTRA
    stat_names = ("lp", "step_size", "n_steps", "diverging", "energy", *_EXTRA)

    def __post_init__(self):
        super().__post_init__()
        if self.adapt_step_size or self.adapt_mass_matrix:
            raise ValueError(
                "DIMS adapts its integration step itself (energy safeguard); "
                "adapt_step_size and adapt_mass_matrix must be False"
            )
        g = _number("gravity", self.gravity, nonnegative=True)
        if self.kinetic_energy is not None and self.escape_height is not None:
            raise ValueError(
                "give either kinetic_energy or escape_height (= kinetic_energy / gravity), not both"
            )
        if self.kinetic_energy is not None:
            k0 = _number("kinetic_energy", self.kinetic_energy, positive=True)
        else:
            h = 0.1 if self.escape_height is None else self.escape_height
            h = _number("escape_height", h, positive=True)
            if g == 0:
                raise ValueError(
                    "escape_height = kinetic_energy / gravity needs gravity > 0; "
                    "give kinetic_energy instead"
                )
            k0 = g * h
        if g == 0 and k0 > 0:
            raise ValueError(
                "gravity must be > 0 when the kicks carry energy: with zero gravity nothing "
                "pulls the ball back to the minimum set and it stops wherever friction "
                "stops it (the geodesic reduction g = friction = 0 is available from "
                "geobayes.samplers._dims_kernels.dims_integrate)"
            )
        if self.friction is not None and self.exploration_length is not None:
            raise ValueError(
                "give either friction or exploration_length (= sqrt(2 kinetic_energy) / "
                "friction), not both"
            )
        if self.exploration_length is not None:
            ell = _number("exploration_length", self.exploration_length, positive=True)
            gamma = math.sqrt(2.0 * k0) / ell
        else:
            gamma = 1.0 if self.friction is None else self.friction
            gamma = _number("friction", gamma)
            if gamma <= 0:
                raise ValueError(
                    "friction must be > 0 (it dissipates the kick's energy so the ball "
                    f"stops), got {gamma}"
                )
        object.__setattr__(self, "geometry", _enum(Geometry, "geometry", self.geometry))
        object.__setattr__(self, "integrator", _enum(Integrator, "integrator", self.integrator))
        object.__setattr__(self, "kick", _enum(KickLaw, "kick", self.kick))
        _number("metric_scale", self.metric_scale, nonnegative=True)
        _number("max_step_size", self.max_step_size, positive=True, allow_none=True)
        _number("tol_energy", self.tol_energy, positive=True)
        _number("tol_kinetic", self.tol_kinetic, positive=True, allow_none=True)
        _number("tol_grad", self.tol_grad, positive=True)
        _number("max_time", self.max_time, positive=True, allow_none=True)
        _number("fd_eps", self.fd_eps, positive=True)
        if (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, (int, np.integer))
            or self.max_steps < 1
        ):
            raise ValueError(f"max_steps must be an integer >= 1, got {self.max_steps!r}")
        object.__setattr__(self, "_k0", k0)
        object.__setattr__(self, "_gamma", gamma)

    # -- resolved physical values ----------------------------------------------------------
    @property
    def kinetic_energy_value(self) -> float:
        """``K0`` after resolving ``escape_height``."""
        return self._k0

    @property
    def friction_value(self) -> float:
        """``gamma`` after resolving ``exploration_length``."""
        return self._gamma

    @property
    def resolved(self) -> bool:
        """True once the step size and ``max_time`` are set (see :meth:`prepare`)."""
        return self.step_size is not None and self.max_time is not None

    def settings(self) -> dict:
        """Hyperparameters (JSON-serializable), with the resolved ``K0`` and ``gamma``."""
        out = super().settings()
        for key in ("geometry", "integrator", "kick"):
            out[key] = getattr(self, key).name.lower()
        out["kinetic_energy_value"] = self._k0
        out["friction_value"] = self._gamma
        return out

    # -- driver hooks ----------------------------------------------------------------------
    def prepare(self, model, starts, rngs):
        """Resolve starts (minimizing the loss when ``find_minimum``) and the step size.

        Called by :func:`geobayes.sample` before the chains start.  ``starts`` holds one
        given point or ``None`` per chain; ``None`` draws the model's initial point with the
        chain's generator.  Returns ``(resolved method, starts)``.
        """
        points = []
        for c, s in enumerate(starts):
            x = model.check_theta(s if s is not None else model.initial_point(rngs[c]))
            if self.find_minimum:
                x = minimize_loss(model, x, gtol=min(1e-2 * self.tol_grad, 1e-8))
            points.append(np.array(x, dtype=np.float64, order="C"))  # writable copy
        return self.resolve(model, points[0]), points

    def resolve(self, model, x0) -> DIMS:
        """Copy with ``step_size``, ``max_step_size`` and ``max_time`` set from ``x0``.

        ``omega = sqrt(gravity * kappa)`` with ``kappa`` the top Hessian eigenvalue at ``x0``
        (power iteration with finite-difference Hessian-vector products).
        """
        if self.resolved and self.max_step_size is not None:
            return self
        x0 = np.array(model.check_theta(x0), dtype=np.float64, order="C")
        kappa = float(_k.top_curvature(model.lpg, x0, model.fdata, model.idata, 30, self.fd_eps))
        omega2 = self.gravity * kappa if math.isfinite(kappa) and kappa > 0 else 0.0
        gamma = self._gamma
        h = self.step_size
        if h is None:
            h = 0.15 / gamma if omega2 == 0 else min(0.1 / math.sqrt(omega2), 0.15 / gamma)
        h_max = self.max_step_size
        if h_max is None:
            h_max = max(h, min(10.0 * h, 0.15 / gamma))
        t_max = self.max_time
        if t_max is None:
            t_max = 50.0 * max(1.0 / gamma, gamma / max(omega2, 1e-8))
        return dataclasses.replace(self, step_size=h, max_step_size=h_max, max_time=t_max)

    @property
    def step_fn(self):
        """The jitted step of type :data:`geobayes.samplers._chunk.STEP`."""
        return dims_step

    def params_array(self) -> np.ndarray:
        """The kernel's parameter vector (layout ``P_*`` in the kernels module)."""
        if not self.resolved:
            raise ValueError(
                "DIMS needs a step size and max_time before running: call "
                "method.resolve(model, start_point) or let geobayes.sample do it"
            )
        p = np.zeros(_k.N_PARAMS)
        p[_k.P_GRAVITY] = self.gravity
        p[_k.P_FRICTION] = self._gamma
        p[_k.P_LAMBDA] = self.metric_scale
        p[_k.P_K0] = self._k0
        p[_k.P_H0] = self.step_size
        p[_k.P_HMAX] = self.max_step_size if self.max_step_size is not None else self.step_size
        p[_k.P_TOL_E] = self.tol_energy
        p[_k.P_TOL_KIN] = self.tol_kinetic if self.tol_kinetic is not None else 1e-10 * self._k0
        p[_k.P_TOL_GRAD] = self.tol_grad
        p[_k.P_TMAX] = self.max_time
        p[_k.P_MAX_STEPS] = self.max_steps
        p[_k.P_INTEGRATOR] = int(self.integrator)
        p[_k.P_METRIC] = int(self.geometry)
        p[_k.P_KICK] = int(self.kick)
        p[_k.P_EXACT_CURV] = 1.0 if self.exact_curvature else 0.0
        p[_k.P_ADAPTIVE] = 1.0 if self.adaptive else 0.0
        p[_k.P_FD_EPS] = self.fd_eps
        return p

    def finish_trace(self, trace, model):
        """Flag draws that hit ``max_time``: a warning and the root attribute ``n_hit_T_max``."""
        if "sample_stats" not in trace.children:
            return trace
        hit = np.asarray(trace["sample_stats"]["hit_T_max"].values, dtype=bool)
        n = int(hit.sum())
        trace.attrs["n_hit_T_max"] = n
        if n:
            warnings.warn(
                f"DIMS: {n} of {hit.size} draws reached max_time/max_steps before stopping "
                "and are NOT on the minimum set (sample_stats.hit_T_max); raise max_time, "
                "lower friction (overdamped slow modes) or use geobayes.samplers.dims."
                "converged(trace) to keep only stopped draws",
                UserWarning,
                stacklevel=3,
            )
        return trace


def converged(trace) -> np.ndarray:
    """Boolean mask ``(chain, draw)`` of DIMS draws that stopped (not ``hit_T_max``/diverging)."""
    st = trace["sample_stats"]
    ok = ~np.asarray(st["hit_T_max"].values, dtype=bool)
    if "diverging" in st:
        ok &= ~np.asarray(st["diverging"].values, dtype=bool)
    return ok


def minimize_loss(model, x0, *, gtol: float = 1e-10, maxiter: int = 100_000) -> np.ndarray:
    """Minimize the model's loss from ``x0`` with scipy's L-BFGS-B; returns the minimizer."""
    from scipy.optimize import minimize

    def fun(theta):
        lp, g = model.lpg(np.ascontiguousarray(theta), model.fdata, model.idata)
        return -float(lp), -np.asarray(g)

    res = minimize(
        fun,
        np.asarray(x0, dtype=np.float64),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": gtol, "ftol": 1e-300, "maxiter": maxiter, "maxcor": 30},
    )
    x = np.ascontiguousarray(res.x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"find_minimum: the optimizer diverged from the start point ({res.message})"
        )
    return x
