"""Built-in state-space models and their registry.

=========================  ==================================================
name                       model
=========================  ==================================================
``linear_gaussian``        ``x_k = F x_{k-1} + N(0, Q)``, ``y_k = H x_k + N(0, R)``
                           (default: the 2-D model of filters spec §8.1)
``lorenz63``               Lorenz (1963), RK4, ``dt = 0.01``, 25 steps per
                           observation, ``H = I``, ``R = 2 I`` (Sakov 2012)
``lorenz96``               Lorenz (1996), any ``dim`` and ``forcing``, RK4,
                           ``dt = 0.05``, every step observed, ``R = I``
                           (Sakov & Oke 2008)
``stochastic_volatility``  AR(1) log-volatility, ``y_k ~ N(0, exp(x_k))``
``bimodal``                static ``x ~ N(0, 1)``, ``y = x^2 + N(0, 0.1^2)``
``lorenz63_cubic``         L63 observed through ``x^3 / 100``
``lorenz63_sparse``        L63, only ``x_1`` every 0.5 time units, ``R = 4``
``lorenz96_abs``           L96 observed through ``|x|``
``lorenz96_half``          L96 with every second component observed
``lorenz63_student``       L63, ``H = I`` with Student-t noise (``nu = 3``, variance
                           2) given only as a simulator (likelihood-free)
=========================  ==================================================

Examples
--------
>>> from geobayes.filters import models
>>> ssm = models.get("lorenz96", dim=10)
>>> ssm.dim, ssm.obs_dim
(10, 10)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from .ssm import StateSpaceModel

__all__ = [
    "get",
    "names",
    "register",
    "linear_gaussian",
    "lorenz63",
    "lorenz96",
    "stochastic_volatility",
    "bimodal",
    "lorenz63_cubic",
    "lorenz63_sparse",
    "lorenz96_abs",
    "lorenz96_half",
    "lorenz63_student",
    "L63_X0",
]

# ---------------------------------------------------------------- jitted parts
# Declared without a signature so that importing this module compiles nothing;
# StateSpaceModel compiles each for its type (STEP_SIG, OBSERVE_SIG,
# OBS_LOGLIK_SIG) when a model uses it, and the disk cache makes that instant
# after the first time.


@njit(cache=True)
def lorenz63_step(x, t, dt, data):
    """One RK4 step of Lorenz-63; ``data = (sigma, rho, beta)`` (scalar code, one allocation)."""
    s, r, b = data[0], data[1], data[2]
    x0, y0, z0 = x[0], x[1], x[2]
    a1 = s * (y0 - x0)
    b1 = r * x0 - y0 - x0 * z0
    c1 = x0 * y0 - b * z0
    x1, y1, z1 = x0 + 0.5 * dt * a1, y0 + 0.5 * dt * b1, z0 + 0.5 * dt * c1
    a2 = s * (y1 - x1)
    b2 = r * x1 - y1 - x1 * z1
    c2 = x1 * y1 - b * z1
    x2, y2, z2 = x0 + 0.5 * dt * a2, y0 + 0.5 * dt * b2, z0 + 0.5 * dt * c2
    a3 = s * (y2 - x2)
    b3 = r * x2 - y2 - x2 * z2
    c3 = x2 * y2 - b * z2
    x3, y3, z3 = x0 + dt * a3, y0 + dt * b3, z0 + dt * c3
    a4 = s * (y3 - x3)
    b4 = r * x3 - y3 - x3 * z3
    c4 = x3 * y3 - b * z3
    out = np.empty(3)
    out[0] = x0 + (dt / 6.0) * (a1 + 2.0 * a2 + 2.0 * a3 + a4)
    out[1] = y0 + (dt / 6.0) * (b1 + 2.0 * b2 + 2.0 * b3 + b4)
    out[2] = z0 + (dt / 6.0) * (c1 + 2.0 * c2 + 2.0 * c3 + c4)
    return out


@njit(cache=True)
def _l96_rhs(x, forcing, out):
    d = x.shape[0]
    for i in range(d):
        im2 = i - 2 if i >= 2 else i - 2 + d
        im1 = i - 1 if i >= 1 else d - 1
        ip1 = i + 1 if i + 1 < d else 0
        out[i] = (x[ip1] - x[im2]) * x[im1] - x[i] + forcing


@njit(cache=True)
def lorenz96_step(x, t, dt, data):
    """One RK4 step of Lorenz-96; ``data = (forcing,)``."""
    f = data[0]
    d = x.shape[0]
    k = np.empty((4, d))
    tmp = np.empty(d)
    _l96_rhs(x, f, k[0])
    for i in range(d):
        tmp[i] = x[i] + 0.5 * dt * k[0, i]
    _l96_rhs(tmp, f, k[1])
    for i in range(d):
        tmp[i] = x[i] + 0.5 * dt * k[1, i]
    _l96_rhs(tmp, f, k[2])
    for i in range(d):
        tmp[i] = x[i] + dt * k[2, i]
    _l96_rhs(tmp, f, k[3])
    out = np.empty(d)
    for i in range(d):
        out[i] = x[i] + (dt / 6.0) * (k[0, i] + 2.0 * k[1, i] + 2.0 * k[2, i] + k[3, i])
    return out


@njit(cache=True)
def _flat_matvec(data, x):
    """``M @ x`` for a row-major matrix stored flat in ``data`` (``len(data) // len(x)`` rows)."""
    d = x.shape[0]
    m = data.shape[0] // d
    out = np.zeros(m)
    for i in range(m):
        acc = 0.0
        for j in range(d):
            acc += data[i * d + j] * x[j]
        out[i] = acc
    return out


@njit(cache=True)
def linear_step(x, t, dt, data):
    """``F @ x`` with ``data = F.ravel()`` (row-major, ``d x d``)."""
    return _flat_matvec(data, x)


@njit(cache=True)
def identity_step(x, t, dt, data):
    """Static model: the state does not move."""
    return x.copy()


@njit(cache=True)
def ar1_step(x, t, dt, data):
    """``mu + phi (x - mu)`` with ``data = (mu, phi)``."""
    return data[0] + data[1] * (x - data[0])


@njit(cache=True)
def identity_obs(x, data):
    """``h(x) = x``."""
    return x.copy()


@njit(cache=True)
def linear_obs(x, data):
    """``H @ x`` with ``data = H.ravel()`` (row-major, ``m x d``)."""
    return _flat_matvec(data, x)


@njit(cache=True)
def partial_obs(x, data):
    """``x[idx]`` with ``data = idx`` (as floats)."""
    out = np.empty(data.shape[0])
    for i in range(data.shape[0]):
        out[i] = x[int(data[i])]
    return out


@njit(cache=True)
def abs_partial_obs(x, data):
    """``|x[idx]|`` with ``data = idx``."""
    out = np.empty(data.shape[0])
    for i in range(data.shape[0]):
        out[i] = abs(x[int(data[i])])
    return out


@njit(cache=True)
def cubic_obs(x, data):
    """``x^3 / data[0]`` componentwise."""
    return x**3 / data[0]


@njit(cache=True)
def square_obs(x, data):
    """``x^2`` componentwise."""
    return x * x


@njit(cache=True)
def sv_loglik(y, x, data):
    """``log N(y; 0, exp(x))`` summed over components."""
    acc = 0.0
    for i in range(y.shape[0]):
        acc += -0.5 * (math.log(2.0 * math.pi) + x[i] + y[i] * y[i] * math.exp(-x[i]))
    return acc


@njit(cache=True)
def student_sim(x, z, data):
    """``x + scale * t_nu`` componentwise from normals: ``data = (nu, scale)``,
    ``z`` holds ``(1 + nu)`` standard normals per component."""
    nu = int(data[0])
    d = x.shape[0]
    out = np.empty(d)
    for i in range(d):
        base = i * (1 + nu)
        chi2 = 0.0
        for j in range(nu):
            chi2 += z[base + 1 + j] ** 2
        out[i] = x[i] + data[1] * z[base] / math.sqrt(chi2 / nu)
    return out


# ----------------------------------------------------------------- factories

#: Initial mean of the Sakov (2012) Lorenz-63 setting (DAPPER ``Lorenz63.x0``).
L63_X0 = np.array([1.509, -1.531, 25.46])


def linear_gaussian(
    transition_matrix=((0.9, 0.1), (0.0, 0.95)),
    observation_matrix=((1.0, 0.0),),
    process_noise_cov=0.1,
    obs_noise_cov=0.5,
    initial_mean=None,
    initial_cov=1.0,
) -> StateSpaceModel:
    """Linear-Gaussian model; defaults: filters spec §8.1 (``d = 2``, ``m = 1``).

    Scalars for covariances mean multiples of the identity.
    """
    F = np.atleast_2d(np.asarray(transition_matrix, float))
    H = np.atleast_2d(np.asarray(observation_matrix, float))
    d, m = F.shape[0], H.shape[0]
    if F.shape != (d, d):
        raise ValueError(f"transition_matrix must be square, got shape {F.shape}")
    if H.shape[1] != d:
        raise ValueError(f"observation_matrix must have {d} columns, got shape {H.shape}")
    return StateSpaceModel(
        name="linear_gaussian",
        dim=d,
        obs_dim=m,
        step=linear_step,
        step_data=F.ravel(),
        observe=linear_obs,
        observe_data=H.ravel(),
        dt=1.0,
        steps_per_obs=1,
        initial_mean=np.zeros(d) if initial_mean is None else initial_mean,
        initial_cov=initial_cov,
        process_noise_cov=process_noise_cov,
        obs_noise_cov=obs_noise_cov,
        transition_matrix=F,
        observation_matrix=H,
        description="linear-Gaussian x_k = F x_{k-1} + N(0,Q), y_k = H x_k + N(0,R)",
    )


def lorenz63(
    dt=0.01,
    steps_per_obs=25,
    obs_noise_cov=2.0,
    initial_cov=2.0,
    initial_mean=None,
    sigma=10.0,
    rho=28.0,
    beta=8.0 / 3.0,
) -> StateSpaceModel:
    """Lorenz-63, Sakov (2012) setting by default (DAPPER ``Lorenz63/sakov2012.py``)."""
    return StateSpaceModel(
        name="lorenz63",
        dim=3,
        obs_dim=3,
        step=lorenz63_step,
        step_data=np.array([sigma, rho, beta]),
        observe=identity_obs,
        dt=dt,
        steps_per_obs=steps_per_obs,
        initial_mean=L63_X0 if initial_mean is None else initial_mean,
        initial_cov=initial_cov,
        obs_noise_cov=obs_noise_cov,
        description="Lorenz-63 (RK4), all components observed",
    )


def lorenz96(
    dim=40,
    forcing=8.0,
    dt=0.05,
    steps_per_obs=1,
    obs_noise_cov=1.0,
    initial_cov=0.001,
    obs_indices=None,
) -> StateSpaceModel:
    """Lorenz-96, Sakov & Oke (2008) setting by default (DAPPER ``Lorenz96/sakov2008.py``).

    ``obs_indices`` selects observed components (default: all).  The initial
    mean is ``e_1`` (first component 1, the rest 0).
    """
    dim = int(dim)
    if dim < 4:
        raise ValueError(f"Lorenz-96 needs dim >= 4, got {dim}")
    x0 = np.zeros(dim)
    x0[0] = 1.0
    if obs_indices is None:
        observe, odata, coords, m = identity_obs, np.zeros(0), None, dim
    else:
        idx = np.asarray(obs_indices, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= dim:
            raise ValueError(f"obs_indices must be indices in [0, {dim}), got {obs_indices}")
        observe, odata, coords, m = partial_obs, idx.astype(float), idx.astype(float), idx.size
    return StateSpaceModel(
        name="lorenz96",
        dim=dim,
        obs_dim=m,
        step=lorenz96_step,
        step_data=np.array([forcing]),
        observe=observe,
        observe_data=odata,
        dt=dt,
        steps_per_obs=steps_per_obs,
        initial_mean=x0,
        initial_cov=initial_cov,
        obs_noise_cov=obs_noise_cov,
        obs_coords=coords,
        domain_length=float(dim),
        description="Lorenz-96 (RK4), periodic, localisable",
    )


def stochastic_volatility(mu=-1.0, phi=0.95, sigma=0.3) -> StateSpaceModel:
    """Stochastic volatility: ``x_k = mu + phi (x_{k-1} - mu) + sigma eta``, ``y_k ~ N(0, e^x_k)``.

    The observation noise is not additive, so only the particle filter applies.
    The initial law is the stationary one, ``N(mu, sigma^2 / (1 - phi^2))``.
    """
    if not abs(phi) < 1:
        raise ValueError(f"|phi| must be < 1 for a stationary model, got {phi}")

    def sampler(rng, x):
        return np.exp(0.5 * x) * rng.standard_normal(x.shape)

    return StateSpaceModel(
        name="stochastic_volatility",
        dim=1,
        obs_dim=1,
        step=ar1_step,
        step_data=np.array([mu, phi]),
        observe=identity_obs,
        dt=1.0,
        steps_per_obs=1,
        initial_mean=[mu],
        initial_cov=sigma**2 / (1 - phi**2),
        process_noise_cov=sigma**2,
        obs_loglik=sv_loglik,
        obs_sampler=sampler,
        description="stochastic volatility, y ~ N(0, exp(x)) (particle filter only)",
    )


def bimodal(obs_std=0.1) -> StateSpaceModel:
    """Static bimodal problem (spec §7.3.1): ``x ~ N(0, 1)``, ``y = x^2 + N(0, obs_std^2)``."""
    return StateSpaceModel(
        name="bimodal",
        dim=1,
        obs_dim=1,
        step=identity_step,
        observe=square_obs,
        dt=1.0,
        steps_per_obs=1,
        initial_mean=[0.0],
        initial_cov=1.0,
        obs_noise_cov=obs_std**2,
        description="static x ~ N(0,1), y = x^2 + noise",
    )


def lorenz63_cubic(scale=100.0) -> StateSpaceModel:
    """Lorenz-63 (Sakov 2012 setting) observed through ``x^3 / scale`` (spec §7.3.2)."""
    base = lorenz63()
    return _replace(
        base,
        name="lorenz63_cubic",
        observe=cubic_obs,
        observe_data=np.array([float(scale)]),
        description="Lorenz-63 observed through x^3/100",
    )


def lorenz63_sparse() -> StateSpaceModel:
    """Lorenz-63 with only ``x_1`` observed every 0.5 time units, ``R = 4`` (spec §7.3.3)."""
    base = lorenz63(steps_per_obs=50)
    return _replace(
        base,
        name="lorenz63_sparse",
        obs_dim=1,
        observe=partial_obs,
        observe_data=np.array([0.0]),
        obs_noise_cov=np.array([[4.0]]),
        obs_coords=None,
        description="Lorenz-63, x_1 observed every 0.5",
    )


def lorenz96_abs(dim=40, forcing=8.0) -> StateSpaceModel:
    """Lorenz-96 observed through ``|x|`` (spec §7.3.4)."""
    base = lorenz96(dim=dim, forcing=forcing)
    return _replace(
        base,
        name="lorenz96_abs",
        observe=abs_partial_obs,
        observe_data=np.arange(base.dim, dtype=float),
        description="Lorenz-96 observed through |x|",
    )


def lorenz96_half(dim=40, forcing=8.0) -> StateSpaceModel:
    """Lorenz-96 with every second component observed (spec §7.3.4)."""
    base = lorenz96(dim=dim, forcing=forcing, obs_indices=np.arange(0, int(dim), 2))
    return _replace(
        base, name="lorenz96_half", description="Lorenz-96, every second component observed"
    )


def lorenz63_student(nu=3, variance=2.0) -> StateSpaceModel:
    """Lorenz-63 (Sakov 2012) observed with Student-t noise, given only as a simulator.

    ``y = x + sqrt(variance (nu - 2) / nu) t_nu`` componentwise.  The model has
    no observation density and no ``R`` (likelihood-free): only the transport
    filter applies.
    """
    nu = int(nu)
    if nu < 3:
        raise ValueError(f"nu must be an integer >= 3 (finite variance), got {nu}")
    base = lorenz63()
    return _replace(
        base,
        name="lorenz63_student",
        obs_noise_cov=None,
        obs_simulator=student_sim,
        obs_noise_dim=3 * (1 + nu),
        simulator_data=np.array([float(nu), math.sqrt(variance * (nu - 2) / nu)]),
        description="Lorenz-63 with Student-t observation noise (simulator only)",
    )


def _replace(ssm: StateSpaceModel, **changes) -> StateSpaceModel:
    import dataclasses

    fields = {f.name: getattr(ssm, f.name) for f in dataclasses.fields(ssm)}
    fields.update(changes)
    return StateSpaceModel(**fields)


_REGISTRY: dict[str, Callable[..., StateSpaceModel]] = {
    "linear_gaussian": linear_gaussian,
    "lorenz63": lorenz63,
    "lorenz96": lorenz96,
    "stochastic_volatility": stochastic_volatility,
    "bimodal": bimodal,
    "lorenz63_cubic": lorenz63_cubic,
    "lorenz63_sparse": lorenz63_sparse,
    "lorenz96_abs": lorenz96_abs,
    "lorenz96_half": lorenz96_half,
    "lorenz63_student": lorenz63_student,
}


def names() -> list[str]:
    """Names of the built-in state-space models."""
    return sorted(_REGISTRY)


def register(name: str, factory: Callable[..., StateSpaceModel]) -> None:
    """Add a factory to the registry (``get(name, **kwargs)`` calls it)."""
    if not callable(factory):
        raise TypeError("factory must be callable")
    _REGISTRY[str(name)] = factory


def get(name: str, **kwargs) -> StateSpaceModel:
    """Build a built-in state-space model by name.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **kwargs
        Passed to the factory (e.g. ``dim=400, forcing=8`` for ``lorenz96``).

    Examples
    --------
    >>> get("lorenz63").dim
    3
    """
    key = str(name).lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(f"unknown state-space model {name!r}; valid names: {', '.join(names())}")
    return _REGISTRY[key](**kwargs)
