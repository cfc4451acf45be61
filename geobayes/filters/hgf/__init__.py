"""Hierarchical Gaussian filters (HGF) with classic, eHGF and robust (Lambert-W) updates.

Build a network (:func:`continuous_hgf`, :func:`binary_hgf`, or :class:`Network`
with :meth:`Network.add_value_parent` / :meth:`Network.add_volatility_parent`),
then run it over a series::

    >>> import numpy as np
    >>> from geobayes.filters import hgf
    >>> net = hgf.continuous_hgf(levels=2)
    >>> tree = hgf.run(net, np.linspace(0.0, 0.1, 50), update="robust")
    >>> x1 = tree["filtered"]["mean"].sel(node="x1").values
    >>> bool(abs(x1[-1] - 0.1) < 0.01)  # x1 follows the ramp with a small lag
    True

``net.run_filter(observations, update=...)`` does the same, so that
``geobayes.filter(net, observations, update="robust")`` works.  Parameter fitting:
:mod:`geobayes.filters.hgf.fit`.  See ``../shared/specs/hgf.md`` for the maths.
"""

from .lambertw import lambertw0, lambertw0_log
from .network import (
    Missing,
    Network,
    Node,
    OnFailure,
    Prediction,
    Update,
    ValueUpdate,
    binary_hgf,
    continuous_hgf,
    simulate,
)
from .run import run

__all__ = [
    "Network",
    "Node",
    "Update",
    "Prediction",
    "ValueUpdate",
    "OnFailure",
    "Missing",
    "continuous_hgf",
    "binary_hgf",
    "run",
    "simulate",
    "lambertw0",
    "lambertw0_log",
]
