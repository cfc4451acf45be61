"""Targets for the samplers: the :class:`Model` class, built-ins and building blocks.

Built-ins are listed by :func:`available` and built by :func:`get`; the jitted
building blocks live in :mod:`geobayes.models.distributions` and
:mod:`geobayes.models.transforms`.  The posteriordb benchmark posteriors are in
:mod:`geobayes.models.posteriordb`; :mod:`geobayes.models.reference` pairs a model with
reference draws (:func:`get_posterior`, :func:`register_posterior`, :func:`load_reference`).
"""

from geobayes.models.base import Model
from geobayes.models.eight_schools import eight_schools
from geobayes.models.gaussian import correlated_gaussian, gaussian, gaussian_from_moments
from geobayes.models.logistic import logistic_regression
from geobayes.models.loss_surfaces import flat_valley, hyperbola, ring
from geobayes.models.mixture import gaussian_mixture, mixture_2d, mixture_10d
from geobayes.models.mlp import mlp_classification, mlp_regression
from geobayes.models.posteriordb import (
    ark,
    blr,
    garch11,
    gp_pois_regr,
    kidscore_interaction,
    kilpisjarvi,
    low_dim_gauss_mix,
)
from geobayes.models.reference import (
    ReferenceDraws,
    ReferencePosterior,
    get_posterior,
    load_reference,
    posteriors,
    register_posterior,
    trace_columns,
    unregister_posterior,
)
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
    "ark",
    "garch11",
    "gp_pois_regr",
    "kidscore_interaction",
    "kilpisjarvi",
    "low_dim_gauss_mix",
    "blr",
    "ReferencePosterior",
    "ReferenceDraws",
    "register_posterior",
    "unregister_posterior",
    "get_posterior",
    "posteriors",
    "load_reference",
    "trace_columns",
    "ring",
    "hyperbola",
    "flat_valley",
    "mlp_classification",
    "mlp_regression",
]
