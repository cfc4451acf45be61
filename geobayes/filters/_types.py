"""Numba function types for state-space models.

A state-space model enters the filter kernels as *typed first-class
functions*, so that one compiled (and disk-cached) kernel serves every model,
as the samplers do with :data:`geobayes.types.LPG`:

``step(x, t, dt, data) -> x_next``  (:data:`STEP`)
    Advance the state ``x`` (C-contiguous float64 vector of length ``d``)
    deterministically from time ``t`` by ``dt`` (one integrator step, e.g. one
    RK4 step).  The kernels call it ``steps_per_obs`` times per cycle.  Process
    noise, if any, is added by the kernel once per cycle.
``observe(x, data) -> hx``  (:data:`OBSERVE`)
    The observation operator ``h(x)``, a float64 vector of length ``m``.
``obs_loglik(y, x, data) -> float``  (:data:`OBS_LOGLIK`)
    Optional log-likelihood ``log p(y | x)`` for non-additive or non-Gaussian
    observation noise (used by the particle filter).

``data`` is a C-contiguous float64 vector with the model's parameters (it may
be empty).  Write model functions with an eager signature, e.g.::

    @numba.njit(STEP_SIG, cache=True)
    def my_step(x, t, dt, data): ...
"""

from __future__ import annotations

from numba import float64, types

__all__ = [
    "STEP_SIG",
    "STEP",
    "OBSERVE_SIG",
    "OBSERVE",
    "OBS_LOGLIK_SIG",
    "OBS_LOGLIK",
    "OBS_SIMULATE_SIG",
    "OBS_SIMULATE",
]

#: Signature of a deterministic model step ``step(x, t, dt, data) -> x_next``.
STEP_SIG = float64[::1](float64[::1], float64, float64, float64[::1])
#: First-class function type of a model step.
STEP = types.FunctionType(STEP_SIG)

#: Signature of an observation operator ``observe(x, data) -> h(x)``.
OBSERVE_SIG = float64[::1](float64[::1], float64[::1])
#: First-class function type of an observation operator.
OBSERVE = types.FunctionType(OBSERVE_SIG)

#: Signature of an observation log-likelihood ``obs_loglik(y, x, data) -> float``.
OBS_LOGLIK_SIG = float64(float64[::1], float64[::1], float64[::1])
#: First-class function type of an observation log-likelihood.
OBS_LOGLIK = types.FunctionType(OBS_LOGLIK_SIG)

#: Signature of a likelihood-free observation simulator ``simulate(x, z, data) -> y``:
#: ``z`` is a vector of ``obs_noise_dim`` standard normal draws (drawn by the kernel),
#: so the simulator itself is deterministic and no observation density is needed.
OBS_SIMULATE_SIG = float64[::1](float64[::1], float64[::1], float64[::1])
#: First-class function type of an observation simulator.
OBS_SIMULATE = types.FunctionType(OBS_SIMULATE_SIG)
