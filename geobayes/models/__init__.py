"""Targets for the samplers: the :class:`Model` class, built-ins and building blocks.

Built-ins are listed by :func:`available` and built by :func:`get`; the jitted
building blocks live in :mod:`geobayes.models.distributions` and
:mod:`geobayes.models.transforms`.
"""

from geobayes.models.base import Model
from geobayes.models.eight_schools import eight_schools
from geobayes.models.gaussian import correlated_gaussian, gaussian, gaussian_from_moments
from geobayes.models.logistic import logistic_regression
from geobayes.models.mixture import gaussian_mixture, mixture_2d, mixture_10d
from geobayes.models.registry import available, get
from geobayes.models.shapes import banana, double_well, funnel

__all__ = [
    "Model",
    "available",
    "get",
    "gaussian",
    "correlated_gaussian",
    "gaussian_from_moments",
    "banana",
    "funnel",
    "double_well",
    "gaussian_mixture",
    "mixture_2d",
    "mixture_10d",
    "eight_schools",
    "logistic_regression",
]
