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
(the driver), :mod:`~geobayes.filters.configs` (benchmark settings with
reference RMSEs), and the kernels :mod:`~geobayes.filters.kalman`,
:mod:`~geobayes.filters.enkf`, :mod:`~geobayes.filters.particle`.
"""

from . import configs, models
from ._localization import Taper
from ._types import OBS_LOGLIK_SIG, OBSERVE_SIG, STEP_SIG
from .api import Cycle, filter, filtering
from .methods import (
    ETKF,
    LETKF,
    EnKF,
    KalmanFilter,
    ParticleFilter,
    Resampling,
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
    "Taper",
    "Resampling",
    "get_method",
    "method_names",
    "STEP_SIG",
    "OBSERVE_SIG",
    "OBS_LOGLIK_SIG",
]
