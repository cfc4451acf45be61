"""Sampling algorithms: one module per method, a jitted step plus a front dataclass.

``METHODS`` maps the names accepted by ``geobayes.sample(..., method=name)`` to classes.
"""

from geobayes.samplers.base import SamplerMethod
from geobayes.samplers.dims import DIMS
from geobayes.samplers.hmc import HMC
from geobayes.samplers.mala import MALA
from geobayes.samplers.msip import MSIP
from geobayes.samplers.nuts import NUTS
from geobayes.samplers.particle import ParticleMethod
from geobayes.samplers.shk import SHK

__all__ = [
    "SamplerMethod",
    "ParticleMethod",
    "DIMS",
    "MALA",
    "HMC",
    "NUTS",
    "MSIP",
    "SHK",
    "METHODS",
    "get_method",
]

#: name -> (class, one-line description)
METHODS = {
    "nuts": (NUTS, "No-U-Turn Sampler (multinomial, Stan's variant), diagonal or dense metric"),
    "dims": (
        DIMS,
        "dissipative Riemannian mechanics: kick-dissipate draws on a loss's minimum set",
    ),
    "hmc": (HMC, "Hamiltonian Monte Carlo, Stan-style step size and diagonal metric adaptation"),
    "mala": (MALA, "Metropolis-adjusted Langevin algorithm, dual-averaging step size"),
    "msip": (MSIP, "mean shift interacting particles: weighted MMD quadrature rule (particles)"),
    "shk": (
        SHK,
        "birth-death Langevin (SHK / Wasserstein-Fisher-Rao flow), equally weighted particles",
    ),
}


def get_method(method, **kwargs) -> SamplerMethod | ParticleMethod:
    """Return a method object from a name (with ``kwargs`` as hyperparameters) or an object."""
    if isinstance(method, (SamplerMethod, ParticleMethod)):
        if kwargs:
            raise TypeError(
                f"got a method object and extra hyperparameters {sorted(kwargs)}; "
                "set them on the object instead"
            )
        return method
    if isinstance(method, type) and issubclass(method, (SamplerMethod, ParticleMethod)):
        return method(**kwargs)
    if not isinstance(method, str):
        raise TypeError(
            f"method must be a name ({', '.join(sorted(METHODS))}) or a sampler object, "
            f"got {type(method).__name__}"
        )
    key = method.lower()
    if key not in METHODS:
        raise ValueError(
            f"unknown method {method!r}; available methods: {', '.join(sorted(METHODS))}"
        )
    try:
        return METHODS[key][0](**kwargs)
    except TypeError as exc:
        raise TypeError(f"bad hyperparameters for method {method!r}: {exc}") from None
