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
``geobayes.filter(net, observations, update="robust")`` works.

What is where
-------------
* :mod:`.network` -- nodes, couplings, the schedule (predictions top-down, updates
  bottom-up, computed once from the graph as pyhgf does), the standard networks and
  :func:`simulate`.  Inputs: continuous (fixed precision), binary, noisy binary.
* :mod:`._kernels` -- one compiled loop for any network (``filter_core``, eager
  float64 and complex128 signatures, disk-cached: a new network or new parameters
  never recompile) with a scalar fast path for the standard 2/3-level chains; the
  volatility updates ``classic`` (Mathys 2011), ``ehgf`` (Weber 2023) and ``robust``
  (default; Lambert-W second expansion, Mathys et al. 2026, pyhgf's ``unbounded``);
  the prediction variant of pyhgf >= 0.3 (``prediction="pyhgf"``).
* :mod:`.lambertw` -- jitted :math:`W_0`, in log space for huge arguments.
* :mod:`.run` and :mod:`._trace` -- validation and the DataTree (``filtered``,
  ``predicted``, ``sample_stats`` with the surprise, ``observed_data``).
* :mod:`.fit` -- an HGF with unknown parameters as a :class:`geobayes.Model`
  (minus the total surprise plus priors, complex-step gradient) for
  ``geobayes.sample``.

Failures are visible: a classic update with a non-positive posterior precision
raises ``ValueError`` naming the step and node (``on_failure="nan"`` continues with
NaN as pyhgf does); the robust update is positive by construction.  A node with
several volatility children under the robust update uses the summed-energy
extension of spec §4.6 (experimental: no reference implementation to compare with).
See ``../shared/specs/hgf.md`` for the maths.
"""

from .fit import hgf_model
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
    "hgf_model",
    "lambertw0",
    "lambertw0_log",
]
