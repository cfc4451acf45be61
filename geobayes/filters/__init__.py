"""Filtering: state-space models, Kalman/EnKF/ETKF/LETKF/particle filters.

>>> from geobayes.filters import filter, models, ETKF
>>> ssm = models.get("lorenz63")
>>> x, y = ssm.simulate(100, seed=0)
>>> tree = filter(ssm, y, ETKF(ensemble_size=10, inflation=1.02), seed=1, truth=x)
>>> sorted(tree.children)
['filtered', 'observed_data', 'predicted', 'sample_stats', 'truth']

Modules: :mod:`~geobayes.filters.ssm` (the model class),
:mod:`~geobayes.filters.models` (built-ins and registry),
:mod:`~geobayes.filters.methods` (front objects), :mod:`~geobayes.filters.api`
(the driver: :func:`filter` returns a ``DataTree``, :func:`filtering` yields
one cycle at a time), :mod:`~geobayes.filters.configs` (benchmark settings
with reference RMSEs), the kernels :mod:`~geobayes.filters.kalman`,
:mod:`~geobayes.filters.enkf`, :mod:`~geobayes.filters.particle`, and
:mod:`~geobayes.filters._trace` (the output layout).

Your own model: write its step and observation operator as Numba functions
with the signatures :data:`STEP_SIG` and :data:`OBSERVE_SIG` and pass them to
:class:`StateSpaceModel`; the compiled filter kernels are reused as they are.
"""

from . import configs, models
from ._localization import Taper
from ._types import OBS_LOGLIK_SIG, OBS_SIMULATE_SIG, OBSERVE_SIG, STEP_SIG
from .api import Cycle, filter, filtering
from .methods import (
    ETKF,
    LETKF,
    EnKF,
    KalmanFilter,
    ParticleFilter,
    Resampling,
    TransportFilter,
    get_method,
    method_names,
)
from .ssm import StateSpaceModel

__all__ = [
    "filter",
    "filtering",
    "Cycle",
    "models",
    "configs",
    "StateSpaceModel",
    "KalmanFilter",
    "EnKF",
    "ETKF",
    "LETKF",
    "ParticleFilter",
    "TransportFilter",
    "Taper",
    "Resampling",
    "get_method",
    "method_names",
    "STEP_SIG",
    "OBSERVE_SIG",
    "OBS_LOGLIK_SIG",
    "OBS_SIMULATE_SIG",
]
