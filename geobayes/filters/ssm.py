"""State-space models: the data a filter assimilates against.

A :class:`StateSpaceModel` follows DAPPER's "HMM as data" idea.  It holds

* the dynamics: a jitted deterministic ``step`` (type :data:`~geobayes.filters._types.STEP`)
  applied ``steps_per_obs`` times of length ``dt`` per assimilation cycle, plus
  optional additive Gaussian process noise with covariance ``process_noise_cov``
  *per cycle* (added once after the deterministic integration);
* the observations: a jitted operator ``observe`` (``h``) with additive noise
  ``N(0, obs_noise_cov)``, or, for non-Gaussian likelihoods, a jitted
  ``obs_loglik`` plus a Python ``obs_sampler`` used for simulation;
* the initial law ``N(initial_mean, initial_cov)`` of the state at time ``t0``;
* coordinates of state components and observations for localisation.

Time convention: ``x_0 ~ N(initial_mean, initial_cov)`` at ``t0``; for cycle
``k = 1..K`` the state is propagated to ``t_k = t0 + k * steps_per_obs * dt``
and observed, ``y_k = h(x_k) + eps_k``.  Arrays of truths and observations have
``K`` rows, row ``k - 1`` belonging to ``t_k``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numba import float64, int64
from numba.core.registry import CPUDispatcher

from ._lazy import lazy_njit
from ._types import OBS_LOGLIK_SIG, OBS_SIMULATE_SIG, OBSERVE, OBSERVE_SIG, STEP, STEP_SIG

__all__ = ["StateSpaceModel", "as_float_vector", "as_float_matrix", "check_spd", "as_jitted"]


def as_float_vector(x, name: str, length: int | None = None) -> np.ndarray:
    """Coerce to a C-contiguous float64 vector, with a clear error."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a vector, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have length {length}, got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_float_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array, or a ``TypeError`` naming ``name`` when it holds no numbers."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of numbers, got {type(x).__name__}"
            + (f" {x!r}" if isinstance(x, str) else "")
        ) from None


def as_float_matrix(x, name: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Coerce to a C-contiguous 2-D float64 array; scalars become ``c * I``."""
    arr = as_float_array(x, name)
    if shape is not None and arr.ndim == 0:
        arr = float(arr) * np.eye(shape[0])
    elif shape is not None and arr.ndim == 1 and shape[0] == shape[1] and arr.shape[0] == shape[0]:
        arr = np.diag(arr)
    arr = np.ascontiguousarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a matrix, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_spd(cov: np.ndarray, name: str, allow_zero: bool = False) -> np.ndarray:
    """Return a Cholesky factor of ``cov`` or raise ``ValueError``.

    With ``allow_zero`` a zero matrix is accepted (no noise) and gives a zero
    factor; a positive semi-definite but singular matrix is accepted too and
    factored through its eigendecomposition.
    """
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(cov).max())):
        raise ValueError(f"{name} must be symmetric")
    if allow_zero:
        vals, vecs = np.linalg.eigh(cov)
        tol = 1e-10 * max(1.0, np.abs(vals).max())
        if vals.min() < -tol:
            raise ValueError(
                f"{name} must be positive semi-definite (smallest eigenvalue {vals.min():.3g})"
            )
        return np.ascontiguousarray(vecs * np.sqrt(np.clip(vals, 0.0, None)))
    try:
        return np.ascontiguousarray(np.linalg.cholesky(cov))
    except np.linalg.LinAlgError:
        vals = np.linalg.eigvalsh(cov)
        raise ValueError(
            f"{name} must be positive definite (smallest eigenvalue {vals.min():.3g})"
        ) from None


def as_jitted(fn, sig, name: str):
    """Check that ``fn`` is a Numba function and compile it for ``sig`` (or load it)."""
    from numba.core import config

    if config.DISABLE_JIT and callable(fn):  # coverage runs: kernels are plain Python
        return fn
    if not isinstance(fn, CPUDispatcher):
        raise TypeError(
            f"{name} must be a numba.njit function with signature {sig}, got {type(fn).__name__}; "
            "decorate it with @numba.njit(geobayes.filters.STEP_SIG / OBSERVE_SIG / OBS_LOGLIK_SIG)"
        )
    if tuple(sig.args) in fn.overloads:
        return fn
    try:
        fn.compile(sig)
    except Exception as exc:  # e.g. an eager function compiled for another signature
        raise TypeError(
            f"{name} must accept the signature {sig}; it has {fn.signatures} ({exc})"
        ) from None
    return fn


@dataclass(frozen=True, eq=False)
class StateSpaceModel:
    """A hidden Markov model for filtering.

    Parameters
    ----------
    name : str
        Short identifier.
    dim : int
        State dimension ``d``.
    obs_dim : int
        Observation dimension ``m``.
    step : numba dispatcher with signature ``STEP_SIG``
        Deterministic model step ``step(x, t, dt, step_data)``.
    observe : numba dispatcher with signature ``OBSERVE_SIG``
        Observation operator ``h(x, observe_data)``.
    dt : float
        Integrator step length.
    steps_per_obs : int
        Integrator steps per assimilation cycle (DAPPER's ``dko``).
    initial_mean : ndarray of shape (d,)
    initial_cov : ndarray of shape (d, d)
        Gaussian law of the initial state (for truth and ensemble).
    obs_noise_cov : ndarray of shape (m, m) or None
        Covariance ``R`` of the additive Gaussian observation noise.  ``None``
        for non-Gaussian observation models (then ``obs_loglik`` and
        ``obs_sampler`` are required and only the particle filter applies).
    process_noise_cov : ndarray of shape (d, d) or None
        Covariance of additive Gaussian process noise per cycle (``None``: none).
    step_data, observe_data : ndarray
        Parameter vectors passed to ``step`` and ``observe``.
    obs_loglik : numba dispatcher with signature ``OBS_LOGLIK_SIG``, optional
        ``log p(y | x)``, used by the particle filter when given.
    loglik_data : ndarray, optional
    obs_sampler : callable ``(rng, x) -> y``, optional
        Draws one observation given a state (Python level; simulation only).
    state_coords, obs_coords : ndarray, optional
        Positions of state components and observations (1-D) for localisation;
        default: component indices.
    domain_length : float
        Period of the coordinate (0: not periodic).  Lorenz-96 uses ``d``.
    t0 : float
        Initial time.
    transition_matrix, observation_matrix : ndarray, optional
        ``F`` and ``H`` of a linear-Gaussian model (enables the Kalman filter).
    description : str
        One line for listings.
    obs_simulator : numba dispatcher with signature ``OBS_SIMULATE_SIG``, optional
        Likelihood-free observation model ``y = simulate(x, z, data)`` with ``z``
        a vector of ``obs_noise_dim`` standard normal draws (the transport
        filter needs only this; no observation density is required).
    obs_noise_dim : int
        Length of ``z`` for ``obs_simulator`` (default ``obs_dim``).
    simulator_data : ndarray, optional
        Parameter vector passed to ``obs_simulator``.

    Examples
    --------
    >>> from geobayes.filters import models
    >>> ssm = models.get("lorenz63")
    >>> truth, obs = ssm.simulate(10, seed=1)
    >>> truth.shape, obs.shape
    ((10, 3), (10, 3))
    """

    name: str
    dim: int
    obs_dim: int
    step: Callable
    observe: Callable
    dt: float
    steps_per_obs: int
    initial_mean: np.ndarray
    initial_cov: np.ndarray
    obs_noise_cov: np.ndarray | None = None
    process_noise_cov: np.ndarray | None = None
    step_data: np.ndarray = field(default_factory=lambda: np.zeros(0))
    observe_data: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obs_loglik: Callable | None = None
    loglik_data: np.ndarray = field(default_factory=lambda: np.zeros(0))
    obs_sampler: Callable | None = None
    state_coords: np.ndarray | None = None
    obs_coords: np.ndarray | None = None
    domain_length: float = 0.0
    t0: float = 0.0
    transition_matrix: np.ndarray | None = None
    observation_matrix: np.ndarray | None = None
    description: str = ""
    obs_simulator: Callable | None = None
    obs_noise_dim: int = 0
    simulator_data: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        d, m = int(self.dim), int(self.obs_dim)
        if d < 1 or m < 1:
            raise ValueError(f"dim and obs_dim must be >= 1, got {d} and {m}")
        s = object.__setattr__
        s(self, "dim", d)
        s(self, "obs_dim", m)
        s(self, "step", as_jitted(self.step, STEP_SIG, "step"))
        s(self, "observe", as_jitted(self.observe, OBSERVE_SIG, "observe"))
        if not (self.dt > 0 and np.isfinite(self.dt)):
            raise ValueError(f"dt must be positive, got {self.dt}")
        if int(self.steps_per_obs) < 1:
            raise ValueError(f"steps_per_obs must be >= 1, got {self.steps_per_obs}")
        s(self, "steps_per_obs", int(self.steps_per_obs))
        s(self, "dt", float(self.dt))
        s(self, "initial_mean", as_float_vector(self.initial_mean, "initial_mean", d))
        s(self, "initial_cov", as_float_matrix(self.initial_cov, "initial_cov", (d, d)))
        s(self, "_initial_chol", check_spd(self.initial_cov, "initial_cov", allow_zero=True))
        if self.obs_noise_cov is not None:
            R = as_float_matrix(self.obs_noise_cov, "obs_noise_cov", (m, m))
            s(self, "obs_noise_cov", R)
            s(self, "_obs_chol", check_spd(R, "obs_noise_cov"))
        elif self.obs_simulator is None and (self.obs_loglik is None or self.obs_sampler is None):
            raise ValueError(
                "give obs_noise_cov, or both obs_loglik and obs_sampler, or obs_simulator"
            )
        if self.obs_simulator is not None:
            s(
                self,
                "obs_simulator",
                as_jitted(self.obs_simulator, OBS_SIMULATE_SIG, "obs_simulator"),
            )
            nz = int(self.obs_noise_dim) if self.obs_noise_dim else m
            if nz < 1:
                raise ValueError(f"obs_noise_dim must be >= 1, got {self.obs_noise_dim}")
            s(self, "obs_noise_dim", nz)
        if self.process_noise_cov is not None:
            Q = as_float_matrix(self.process_noise_cov, "process_noise_cov", (d, d))
            s(self, "process_noise_cov", Q)
            s(self, "_process_chol", check_spd(Q, "process_noise_cov", allow_zero=True))
        else:
            s(self, "_process_chol", np.zeros((0, 0)))
        for key in ("step_data", "observe_data", "loglik_data", "simulator_data"):
            s(self, key, as_float_vector(getattr(self, key), key))
        if self.obs_loglik is not None:
            s(self, "obs_loglik", as_jitted(self.obs_loglik, OBS_LOGLIK_SIG, "obs_loglik"))
        sc = np.arange(d, dtype=float) if self.state_coords is None else self.state_coords
        oc = np.arange(m, dtype=float) if self.obs_coords is None else self.obs_coords
        s(self, "state_coords", as_float_vector(sc, "state_coords", d))
        s(self, "obs_coords", as_float_vector(oc, "obs_coords", m))
        hx = self.observe(self.initial_mean.copy(), self.observe_data)
        if hx.shape != (m,):
            raise ValueError(f"observe returns shape {hx.shape}, expected ({m},) = (obs_dim,)")
        x1 = self.step(self.initial_mean.copy(), self.t0, self.dt, self.step_data)
        if x1.shape != (d,):
            raise ValueError(f"step returns shape {x1.shape}, expected ({d},) = (dim,)")
        if self.domain_length < 0:
            raise ValueError(f"domain_length must be >= 0, got {self.domain_length}")
        if self.transition_matrix is not None:
            s(
                self,
                "transition_matrix",
                as_float_matrix(self.transition_matrix, "transition_matrix", (d, d)),
            )
        if self.observation_matrix is not None:
            s(
                self,
                "observation_matrix",
                as_float_matrix(self.observation_matrix, "observation_matrix", (m, d)),
            )

    # ------------------------------------------------------------------ helpers
    @property
    def gaussian_obs(self) -> bool:
        """Whether observations are ``h(x) + N(0, R)`` with known ``R``."""
        return self.obs_noise_cov is not None

    @property
    def likelihood_free(self) -> bool:
        """Whether observations come from ``obs_simulator`` only (no density, no ``R``)."""
        return self.obs_simulator is not None and self.obs_noise_cov is None

    @property
    def is_linear_gaussian(self) -> bool:
        """Whether the Kalman filter applies (``F``, ``H`` and ``R`` known)."""
        return (
            self.transition_matrix is not None
            and self.observation_matrix is not None
            and self.obs_noise_cov is not None
            and self.steps_per_obs == 1
        )

    @property
    def obs_interval(self) -> float:
        """Time between observations."""
        return self.dt * self.steps_per_obs

    def times(self, n_cycles: int) -> np.ndarray:
        """Analysis times ``t_1 .. t_K``."""
        return self.t0 + self.obs_interval * np.arange(1, n_cycles + 1)

    def initial_ensemble(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` members from the initial law, shape ``(n, d)``."""
        z = rng.standard_normal((n, self.dim))
        return np.ascontiguousarray(self.initial_mean + z @ self._initial_chol.T)

    def simulate(self, n_cycles: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """Simulate a truth trajectory and its observations.

        Parameters
        ----------
        n_cycles : int
            Number of assimilation cycles ``K``.
        seed : int, SeedSequence or None

        Returns
        -------
        truth : ndarray of shape (K, d)
        observations : ndarray of shape (K, m)
        """
        from ..random import as_seed_sequence

        n_cycles = int(n_cycles)
        if n_cycles < 1:
            raise ValueError(f"n_cycles must be >= 1, got {n_cycles}")
        rng = np.random.default_rng(as_seed_sequence(seed))
        x0 = self.initial_ensemble(rng, 1)[0]
        if self._process_chol.size:
            noise = rng.standard_normal((n_cycles, self.dim)) @ self._process_chol.T
        else:
            noise = np.zeros((n_cycles, 0))
        truth = _simulate_truth(
            x0,
            n_cycles,
            self.steps_per_obs,
            self.dt,
            self.t0,
            self.step,
            self.step_data,
            np.ascontiguousarray(noise),
        )
        if self.gaussian_obs:
            hx = _observe_all(truth, self.observe, self.observe_data, self.obs_dim)
            obs = hx + rng.standard_normal((n_cycles, self.obs_dim)) @ self._obs_chol.T
        elif self.obs_simulator is not None:
            z = rng.standard_normal((n_cycles, self.obs_noise_dim))
            obs = np.stack(
                [
                    self.obs_simulator(np.ascontiguousarray(x), z[k], self.simulator_data)
                    for k, x in enumerate(truth)
                ]
            )
        else:
            obs = np.stack(
                [np.asarray(self.obs_sampler(rng, x), float).reshape(self.obs_dim) for x in truth]
            )
        return truth, np.ascontiguousarray(obs)

    def __repr__(self) -> str:
        return (
            f"StateSpaceModel(name={self.name!r}, dim={self.dim}, obs_dim={self.obs_dim}, "
            f"dt={self.dt}, steps_per_obs={self.steps_per_obs})"
        )


@lazy_njit(
    float64[:, ::1](
        float64[::1], int64, int64, float64, float64, STEP, float64[::1], float64[:, ::1]
    ),
    cache=True,
)
def _simulate_truth(x0, n_cycles, n_steps, dt, t0, step, step_data, noise):  # pragma: no cover
    d = x0.shape[0]
    out = np.empty((n_cycles, d))
    x = x0.copy()
    for k in range(n_cycles):
        for s in range(n_steps):
            x = step(x, t0 + (k * n_steps + s) * dt, dt, step_data)
        if noise.shape[1] > 0:
            x = x + noise[k]
        out[k] = x
    return out


@lazy_njit(float64[:, ::1](float64[:, ::1], OBSERVE, float64[::1], int64), cache=True)
def _observe_all(X, observe, observe_data, m):  # pragma: no cover
    out = np.empty((X.shape[0], m))
    for k in range(X.shape[0]):
        out[k] = observe(np.ascontiguousarray(X[k]), observe_data)
    return out
