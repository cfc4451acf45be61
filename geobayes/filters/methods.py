"""Front objects of the filters: small frozen dataclasses that validate.

Each class holds the hyper-parameters of one method with defaults and checks
them in ``__post_init__``; the loop lives in :mod:`geobayes.filters.api` and
the arithmetic in the jitted kernels.  Variants are enums
(:class:`~geobayes.filters._localization.Taper`, :class:`Resampling`).
``get_method(name, **params)`` builds one from its registry name, so
``geobayes.filters.filter(ssm, y, method="letkf", localization_radius=4)``
works.

Examples
--------
>>> LETKF(ensemble_size=10, inflation=1.04, localization_radius=4.0)
LETKF(ensemble_size=10, inflation=1.04, localization_radius=4.0, taper=<Taper.GASPARI_COHN: 'gc'>, rotate=False, batch_size=None, taper_cut=0.001, factorization='auto')
>>> get_method("pf", ensemble_size=500).resample_threshold
0.5
"""  # noqa: E501

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

from ._localization import Taper

__all__ = [
    "Resampling",
    "Taper",
    "KalmanFilter",
    "EnKF",
    "ETKF",
    "LETKF",
    "ParticleFilter",
    "TransportFilter",
    "TransportKernel",
    "Gain",
    "Analysis",
    "Stopping",
    "METHODS",
    "get_method",
    "method_names",
]


#: LETKF ``factorization`` names and their kernel codes (``geobayes.filters.enkf.SPACE_*``).
FACTORIZATIONS = {"auto": 0, "ensemble": 1, "observation": 2}


class Resampling(enum.Enum):
    """Resampling scheme of the particle filter."""

    SYSTEMATIC = "systematic"
    STRATIFIED = "stratified"
    MULTINOMIAL = "multinomial"


def _check_ensemble_size(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"ensemble_size must be an integer >= 2, got {n!r}")
    return int(n)


def _check_inflation(x) -> float:
    x = float(x)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"inflation must be a positive finite factor (1.0 = none), got {x}")
    return x


class _Method:
    """Shared helpers of the front objects."""

    name: ClassVar[str] = ""

    def settings(self) -> dict:
        """JSON-ready hyper-parameters (enums as their values)."""
        out = {"method": self.name}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.value if isinstance(v, enum.Enum) else v
        return out


@dataclass(frozen=True)
class KalmanFilter(_Method):
    """Exact Kalman filter (linear-Gaussian models only; spec §6).

    Examples
    --------
    >>> KalmanFilter().name
    'kalman'
    """

    name: ClassVar[str] = "kalman"


@dataclass(frozen=True)
class EnKF(_Method):
    """Stochastic EnKF with perturbed observations (spec §3).

    Parameters
    ----------
    ensemble_size : int
        Number of members ``N >= 2``.
    inflation : float
        Multiplicative inflation of the analysis anomalies (1.0 = none).

    Examples
    --------
    >>> EnKF(ensemble_size=10, inflation=1.04).settings()["inflation"]
    1.04
    """

    ensemble_size: int = 50
    inflation: float = 1.0
    name: ClassVar[str] = "enkf"

    def __post_init__(self):
        object.__setattr__(self, "ensemble_size", _check_ensemble_size(self.ensemble_size))
        object.__setattr__(self, "inflation", _check_inflation(self.inflation))


@dataclass(frozen=True)
class ETKF(_Method):
    """Ensemble transform Kalman filter, symmetric square root (spec §4.1).

    Parameters
    ----------
    ensemble_size : int
    inflation : float
    rotate : bool
        Apply a random mean-preserving rotation to the analysis anomalies.

    Examples
    --------
    >>> ETKF(ensemble_size=10, inflation=1.02, rotate=True).rotate
    True
    """

    ensemble_size: int = 20
    inflation: float = 1.0
    rotate: bool = False
    name: ClassVar[str] = "etkf"

    def __post_init__(self):
        object.__setattr__(self, "ensemble_size", _check_ensemble_size(self.ensemble_size))
        object.__setattr__(self, "inflation", _check_inflation(self.inflation))
        object.__setattr__(self, "rotate", bool(self.rotate))


@dataclass(frozen=True)
class LETKF(_Method):
    """Local ETKF with R-localisation (spec §4.2-4.3).

    Parameters
    ----------
    ensemble_size : int
    inflation : float
    localization_radius : float
        Radius ``r`` in the units of the model's coordinates (grid points for
        Lorenz-96); the taper is ``exp(-1/2)`` at ``r``.
    taper : Taper
    rotate : bool
    batch_size : int or None, default None
        Consecutive state components sharing one local analysis (DAPPER's
        state batches).  ``None`` chooses it from the grid and the radius
        (:func:`~geobayes.filters._localization.auto_batch_size`: on a regular
        1-D grid of spacing ``h``, ``floor(1 + r / (4 h))``, which is DAPPER's
        2 on its Lorenz-96 setting and halves the cost at the same RMSE); 1 =
        one analysis per component.
    taper_cut : float, default 1e-3
        Observations whose taper coefficient is at most this fraction of the
        peak are left out of a local analysis, as DAPPER does (its
        ``cutoff=1e-3``).  On Lorenz-96 with ``r = 4`` this keeps 25 of the 29
        observations in the Gaspari-Cohn support and cuts the cost by a third;
        the analysis changes by less than the cut (tested).  0 keeps every
        observation with a non-zero coefficient.
    factorization : {"auto", "ensemble", "observation"}, default "auto"
        Square-root factorization of each local analysis: ``"ensemble"``
        (``N x N``), ``"observation"`` (``m x m`` with ``m`` the local
        observations) or ``"auto"``, the one with fewer flops for that
        analysis (:func:`~geobayes.filters.enkf.use_observation_space`; the
        observation space whenever ``m`` is well below ``N``).  All give the
        same analysis to round-off.

    Notes
    -----
    The thread count is a keyword of :func:`~geobayes.filters.filter`
    (``threads``); by default it uses the idle cores when a cycle is large
    enough for threads to pay.

    Examples
    --------
    >>> LETKF(ensemble_size=10, localization_radius=4.0, taper="gauss").taper
    <Taper.GAUSS: 'gauss'>
    >>> LETKF(ensemble_size=40, batch_size=1, taper_cut=0.0).factorization
    'auto'
    """

    ensemble_size: int = 20
    inflation: float = 1.0
    localization_radius: float = 4.0
    taper: Taper = Taper.GASPARI_COHN
    rotate: bool = False
    batch_size: int | None = None
    taper_cut: float = 1e-3
    factorization: str = "auto"
    name: ClassVar[str] = "letkf"

    def __post_init__(self):
        object.__setattr__(self, "ensemble_size", _check_ensemble_size(self.ensemble_size))
        object.__setattr__(self, "inflation", _check_inflation(self.inflation))
        r = float(self.localization_radius)
        if not math.isfinite(r) or r <= 0:
            raise ValueError(f"localization_radius must be positive and finite, got {r}")
        object.__setattr__(self, "localization_radius", r)
        try:
            object.__setattr__(self, "taper", Taper(self.taper))
        except ValueError:
            valid = ", ".join(t.value for t in Taper)
            raise ValueError(f"unknown taper {self.taper!r}; valid: {valid}") from None
        object.__setattr__(self, "rotate", bool(self.rotate))
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or (self.batch_size < 1)
        ):
            raise ValueError(
                f"batch_size must be an integer >= 1 or None (automatic), got {self.batch_size!r}"
            )
        cut = self.taper_cut
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not 0.0 <= cut < 1.0:
            raise ValueError(f"taper_cut must be a number in [0, 1), got {cut!r}")
        object.__setattr__(self, "taper_cut", float(cut))
        if self.factorization not in FACTORIZATIONS:
            raise ValueError(
                f"factorization must be one of {sorted(FACTORIZATIONS)}, got {self.factorization!r}"
            )


@dataclass(frozen=True)
class ParticleFilter(_Method):
    """Bootstrap particle filter (spec §5).

    Parameters
    ----------
    ensemble_size : int
        Number of particles.
    resample_threshold : float
        Resample when ``ESS <= resample_threshold * N`` (DAPPER's ``NER``), in (0, 1].
    regularization : float
        Jitter scale after resampling (DAPPER's ``reg``), ``>= 0``.
    resampling : Resampling

    Examples
    --------
    >>> ParticleFilter(ensemble_size=100, regularization=2.4, resample_threshold=0.3).resampling
    <Resampling.SYSTEMATIC: 'systematic'>
    """

    ensemble_size: int = 1000
    resample_threshold: float = 0.5
    regularization: float = 0.0
    resampling: Resampling = Resampling.SYSTEMATIC
    name: ClassVar[str] = "pf"

    def __post_init__(self):
        object.__setattr__(self, "ensemble_size", _check_ensemble_size(self.ensemble_size))
        t = float(self.resample_threshold)
        if not 0 < t <= 1:
            raise ValueError(f"resample_threshold must be in (0, 1], got {t}")
        object.__setattr__(self, "resample_threshold", t)
        reg = float(self.regularization)
        if not math.isfinite(reg) or reg < 0:
            raise ValueError(f"regularization must be >= 0, got {reg}")
        object.__setattr__(self, "regularization", reg)
        try:
            object.__setattr__(self, "resampling", Resampling(self.resampling))
        except ValueError:
            valid = ", ".join(r.value for r in Resampling)
            raise ValueError(f"unknown resampling {self.resampling!r}; valid: {valid}") from None


class TransportKernel(enum.Enum):
    """Kernel of the transport filter's MMD (spec §2.4)."""

    GAUSSIAN = "gaussian"
    INVERSE_MULTIQUADRIC = "imq"
    NEGATIVE_DISTANCE = "distance"


class Gain(enum.Enum):
    """Linear pre-conditioning of the transport filter (spec §2.3).

    ``AUTO`` is ``ANALYTIC`` when the model has additive Gaussian observation
    noise with known ``R`` and ``EMPIRICAL`` otherwise (likelihood-free models).
    """

    AUTO = "auto"
    ANALYTIC = "analytic"
    EMPIRICAL = "empirical"
    NONE = "none"


class Regression(enum.Enum):
    """Nonlinear regression stage of the transport analysis, after the gain.

    ``"kernel"``: kernel ridge regression of the residual states on the
    synthetic observations (penalty by exact leave-one-out error, the mean
    alone when that predicts best); the flow then transports the leave-one-out
    residuals and the fitted mean at ``y*`` is added back.  ``"kernel_scale"``
    (``analysis="optimize"`` only): the same, then a heteroscedastic conditional
    model ``x = m(y) + s(y) eps``, each residual rescaled by ``s(y*) / s(y_i)``
    (``s^2`` a Nadaraya-Watson regression of the squared residuals on y).
    ``"none"``: the gain alone (spec §2.3).
    """

    NONE = "none"
    KERNEL = "kernel"
    KERNEL_SCALE = "kernel_scale"


class Analysis(enum.Enum):
    """Analysis of the transport filter: the MMD gradient flow (spec §2.5) or the
    optimisation variant (spec §2.6, :mod:`geobayes.filters.transport_opt`)."""

    FLOW = "flow"
    OPTIMIZE = "optimize"


class Stopping(enum.Enum):
    """Stopping rule of the MMD flow (spec §2.5)."""

    NOISE_FLOOR = "noise_floor"
    MAX_STEPS = "max_steps"
    EXPECTED_FLOOR = "expected_floor"


def _check_positive(name, x, allow_zero=False) -> float:
    x = float(x)
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {x}")
    return x


def _check_enum(cls, value, name):
    try:
        return cls(value)
    except ValueError:
        valid = ", ".join(v.value for v in cls)
        raise ValueError(f"unknown {name} {value!r}; valid: {valid}") from None


@dataclass(frozen=True)
class TransportFilter(_Method):
    """Coupling-informed transport filter with an MMD gradient-flow analysis (spec §2).

    After Zeng, Jiang, Sun & Xiao (2026), arXiv 2605.13174 (reconstruction of
    the spec; only the paper's abstract could be read).  Likelihood-free: the
    analysis needs synthetic observations of the forecast members only, drawn
    from the model's observation simulator (or ``h(x) + N(0, R)``).  The
    analysis is the block-triangular map ``(y, x) -> (y, T(y, x))`` that pushes
    the product of marginals onto the forecast coupling, evaluated at the
    actual observation: an ensemble gain first, then an MMD gradient flow on
    the residual, stopped at the sampling-noise floor.  With domain localisation
    one analysis serves a block of components (``batch_size``); at the defaults
    (blocks spanning the radius, the expected noise floor) a cycle on Lorenz-96
    (40 variables) takes 0.6-0.7x / 0.6-0.7x / 1.4-2.5x the LETKF's at N = 20 / 40 / 100
    (``benchmarks/filters/TRANSPORT_RESULTS.md``, "Time per cycle at N = 100"; with one
    component per analysis and the sampled floor it took 2.2-2.6x / 3.3-3.5x / 15-16x
    before the kernel sums were vectorised).

    Parameters
    ----------
    ensemble_size : int
    inflation : float
        Multiplicative inflation of the analysis anomalies (spec §4.4).
    kernel : TransportKernel
        ``"imq"`` (inverse multiquadric, default), ``"gaussian"`` or ``"distance"``
        (negative distance).  The inverse multiquadric is as accurate as the spec's
        Gaussian kernel on every test problem, needs fewer flow steps (its heavier
        tails keep the field alive between distant particles) and its sums vectorise
        (no ``exp``): about half the time per cycle (L96, N = 40).
    bandwidth_factor : float
        ``c_h``: the bandwidth is ``c_h`` times the median pairwise distance of
        the standardised joint sample (0.5 for sharply peaked likelihoods).
    obs_weight : float
        ``lambda_y``, weight of the observation block in the kernel.
    step_size : float
        ``eta``: the flow step is ``eta h^2 v`` (``eta v`` for the distance kernel).
        Default 4 (with the default inverse multiquadric kernel: a quarter of the flow
        steps of the spec's ``eta = 1`` at the same accuracy on Lorenz-63, Lorenz-96
        and the bimodal problem).  With ``kernel="gaussian"`` use 2: ``eta = 4``
        oscillates there.
    max_steps : int
        ``L_max``, flow steps at most per analysis.
    clip : float
        Cap on each particle's standardised displacement per step, in units of
        the bandwidth (0 = none).
    gain : Gain
        Linear pre-conditioning: ``"auto"``, ``"analytic"``, ``"empirical"``, ``"none"``.
    regression : Regression
        ``"none"`` (default) or ``"kernel"``: a nonlinear conditional-mean stage
        after the gain (kernel ridge regression on the observations); global
        analyses only (refused with ``localization_radius``).  ``"kernel_scale"``
        (``analysis="optimize"`` only) adds a heteroscedastic scale per particle.
    stopping : Stopping
        ``"expected_floor"`` (default: stop when the reference-target MMD^2 reaches
        the expected MMD^2 of two independent references, in closed form, see
        :func:`~geobayes.filters.transport.expected_noise_floor`), ``"noise_floor"``
        (the spec's sampled floor: one second reference; same mean, noisier and
        1.5 N^2 kernel pairs per analysis instead of N^2) or ``"max_steps"``.
    field_size : int or None
        Members whose reference and target particles define the flow field (a random
        subset drawn with the seed each analysis; None = all).  Every member is still
        transported; the kernel sums cost ``O(N field_size)`` per flow step instead of
        ``O(N^2)``.  Needs ``stopping`` other than ``"noise_floor"``.
    n_pairings : int
        Independent derangements forming the reference sample (``P``).
    noise_injection : float
        ``beta_0`` of the noise injected into the field evaluation points,
        decreasing linearly to 0 over ``max_steps`` (0 = off).
    localization_radius : float or None
        Domain localisation radius (model coordinates; None = global analysis).
    taper : Taper
        Taper of the observation block weights in the local domains.
    batch_size : int or None
        Consecutive state components sharing one local analysis (their joint flow:
        the block's states and the observations near its centre).  None (default):
        automatic, :func:`~geobayes.filters._localization.transport_batch_size`
        (on a regular 1-D grid the block spans the localisation radius: 4 components
        on Lorenz-96 with radius 4, a quarter of the analyses, the RMSE within 10 % of
        the best Gaussian filter at N = 20, 40 and 100).
    analysis : Analysis
        ``"flow"`` (default): the MMD gradient flow above.  ``"optimize"``: the
        optimisation variant of spec §2.6 (:mod:`geobayes.filters.transport_opt`):
        the map ``x + B phi(y, x)`` (linear terms plus ``rbf_centres`` Gaussian
        features centred at the joint particles) is fitted by L-BFGS to minimise
        the same ``MMD^2`` plus ``ridge ||B||^2``, stopped at the noise floor
        (``stopping``) or after ``max_steps`` iterations; same kernel, bandwidth,
        ``obs_weight``, gain and localisation.  With linear features and no gain
        it recovers the Kalman update (tested).  The L-BFGS map itself is slower
        than the flow (one solve per domain, serial over domains) and no more
        accurate on Lorenz-63/96.  The variant also carries
        ``regression="kernel_scale"`` (a heteroscedastic conditional model).  With
        ``max_steps=0`` that model alone beats the EnKF on cubic Lorenz-63 at
        N = 100.  Measured over 15 reporting seeds: RMSE lower on 12, energy
        distance to a particle-filter reference lower on 12, paired ratios
        0.77-0.86 and 0.57-0.76.  The default flow ties with the EnKF there
        (``TRANSPORT_RESULTS.md``, "Fourth round").  ``n_pairings`` and
        ``noise_injection`` are flow-only; ``regression="kernel_scale"`` is for
        this variant only.
    rbf_centres : int
        Optimisation variant: number of RBF features (0 = linear map only).
    ridge : float
        Optimisation variant: penalty on ``||B||^2`` (shrinks the map towards the
        linear update).

    Examples
    --------
    >>> TransportFilter(ensemble_size=100).gain
    <Gain.AUTO: 'auto'>
    >>> get_method("transport", kernel="gaussian", step_size=2).kernel
    <TransportKernel.GAUSSIAN: 'gaussian'>
    >>> TransportFilter(analysis="optimize").analysis
    <Analysis.OPTIMIZE: 'optimize'>
    """

    ensemble_size: int = 100
    inflation: float = 1.0
    kernel: TransportKernel = TransportKernel.INVERSE_MULTIQUADRIC
    bandwidth_factor: float = 1.0
    obs_weight: float = 1.0
    step_size: float = 4.0
    max_steps: int = 100
    clip: float = 0.5
    gain: Gain = Gain.AUTO
    regression: Regression = Regression.NONE
    stopping: Stopping = Stopping.EXPECTED_FLOOR
    n_pairings: int = 1
    field_size: int | None = None
    noise_injection: float = 0.0
    localization_radius: float | None = None
    taper: Taper = Taper.GASPARI_COHN
    batch_size: int | None = None
    analysis: Analysis = Analysis.FLOW
    rbf_centres: int = 50
    ridge: float = 1e-2
    name: ClassVar[str] = "transport"

    def __post_init__(self):
        s = object.__setattr__
        n = _check_ensemble_size(self.ensemble_size)
        if n < 3:
            raise ValueError(f"ensemble_size must be >= 3 for the transport filter, got {n}")
        s(self, "ensemble_size", n)
        s(self, "inflation", _check_inflation(self.inflation))
        s(self, "kernel", _check_enum(TransportKernel, self.kernel, "kernel"))
        s(self, "gain", _check_enum(Gain, self.gain, "gain"))
        s(self, "stopping", _check_enum(Stopping, self.stopping, "stopping"))
        s(self, "regression", _check_enum(Regression, self.regression, "regression"))
        s(self, "taper", _check_enum(Taper, self.taper, "taper"))
        s(self, "analysis", _check_enum(Analysis, self.analysis, "analysis"))
        s(self, "ridge", _check_positive("ridge", self.ridge, allow_zero=True))
        s(self, "bandwidth_factor", _check_positive("bandwidth_factor", self.bandwidth_factor))
        s(self, "obs_weight", _check_positive("obs_weight", self.obs_weight))
        s(self, "step_size", _check_positive("step_size", self.step_size))
        s(self, "clip", _check_positive("clip", self.clip, allow_zero=True))
        s(self, "noise_injection", _check_positive("noise_injection", self.noise_injection, True))
        for key, lo in (("max_steps", 0), ("n_pairings", 1), ("batch_size", 1), ("rbf_centres", 0)):
            v = getattr(self, key)
            if key == "batch_size" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{key} must be an integer >= {lo}, got {v!r}")
        if self.field_size is not None:
            v = self.field_size
            if isinstance(v, bool) or not isinstance(v, int) or v < 3:
                raise ValueError(f"field_size must be an integer >= 3 or None, got {v!r}")
            if self.stopping is Stopping.NOISE_FLOOR:
                raise ValueError(
                    "field_size needs stopping='expected_floor' or 'max_steps' (the sampled "
                    "noise floor draws its second reference from the same derangement)"
                )
        if self.localization_radius is not None:
            s(
                self,
                "localization_radius",
                _check_positive("localization_radius", self.localization_radius),
            )
            if self.regression is not Regression.NONE:
                raise ValueError(
                    f"regression={self.regression.value!r} is for global analyses only (with "
                    "domain localisation it lost track of Lorenz-96); use regression='none' "
                    "with localization_radius"
                )
        if self.regression is Regression.KERNEL_SCALE and self.analysis is not Analysis.OPTIMIZE:
            raise ValueError("regression='kernel_scale' needs analysis='optimize'")
        if self.analysis is Analysis.OPTIMIZE:
            flow_only = {
                "n_pairings": (self.n_pairings, 1),
                "noise_injection": (self.noise_injection, 0.0),
            }
            for key, (value, default) in flow_only.items():
                if value != default:
                    raise ValueError(
                        f"{key}={value!r} applies to analysis='flow' only; leave it at "
                        f"{default!r} with analysis='optimize'"
                    )


#: Registry name -> front class (aliases included).
METHODS: dict[str, type] = {
    "kalman": KalmanFilter,
    "kf": KalmanFilter,
    "enkf": EnKF,
    "etkf": ETKF,
    "letkf": LETKF,
    "pf": ParticleFilter,
    "particle": ParticleFilter,
    "transport": TransportFilter,
}


def method_names() -> list[str]:
    """Registry names accepted by ``method=``."""
    return sorted(METHODS)


def _check_types(cls, params) -> None:
    """A clear ``TypeError`` for a value of the wrong kind, before the fields convert it.

    Flags (``bool`` fields) take only ``True``/``False`` (a truthy ``"no"`` would be taken
    silently); numeric fields (``int``/``float``, optionally ``None``) take only numbers
    (``float("abc")`` would fail without naming the parameter).
    """
    for f in dataclasses.fields(cls):
        if f.name not in params or params[f.name] is None:
            continue
        value, kind = params[f.name], str(f.type)
        if kind == "bool":
            if not isinstance(value, bool) and type(value).__name__ != "bool_":
                raise TypeError(f"{f.name} must be True or False, got {value!r}")
        elif kind.split(" |")[0] in ("int", "float") and (
            isinstance(value, (bool, str)) or not isinstance(value, numbers.Real)
        ):
            raise TypeError(f"{f.name} must be a number ({kind.split(' |')[0]}), got {value!r}")


def get_method(method, **params):
    """A front object from a name (with ``params``) or an object (``params`` replace fields)."""
    if isinstance(method, str):
        key = method.lower()
        if key not in METHODS:
            valid = ", ".join(method_names())
            raise ValueError(f"unknown filter method {method!r}; valid: {valid}")
        cls = METHODS[key]
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(params) - fields
        if unknown:
            raise TypeError(
                f"{cls.__name__} has no parameter(s) {sorted(unknown)}; valid: {sorted(fields)}"
            )
        _check_types(cls, params)
        return cls(**params)
    if isinstance(method, _Method):
        if params:
            _check_types(type(method), params)
            return dataclasses.replace(method, **params)
        return method
    raise TypeError(
        f"method must be a name ({', '.join(method_names())}) or a filter object, "
        f"got {type(method).__name__}"
    )
