"""HGF output as an ``xarray.DataTree``.

Layout (``time`` = observation index, ``node`` = node names, ``input`` = input names):

========================  =====================================================
``filtered/mean``          posterior mean :math:`\\mu` (time, node)
``filtered/precision``     posterior precision :math:`\\pi` (time, node)
``filtered/sd``            :math:`1/\\sqrt\\pi`, as the other filters store it
``predicted/mean``         predicted mean :math:`\\hat\\mu` (time, node)
``predicted/precision``    predicted precision :math:`\\hat\\pi` (time, node)
``predicted/sd``           :math:`1/\\sqrt{\\hat\\pi}`
``sample_stats/surprise``  observation surprise per step (time); its negative is
                           ``log_evidence_increment`` (root: ``log_evidence``)
``sample_stats/node_surprise``   pyhgf's per-node Gaussian surprise (time, node)
``sample_stats/surprise_input``  pyhgf's ``x_0_surprise`` (time)
``sample_stats/surprise_total``  pyhgf's ``total_surprise`` (time)
``observed_data/observations``   (time, input)
========================  =====================================================

Conventions: every precision is a true precision.  A continuous input node stores
``mean = u``, ``precision = pi_u`` and as prediction the observation's predictive
mean and precision ``1 / (1/pi_u + sum alpha^2/pi_hat_parent)``; a binary input
stores ``mean = u``, ``precision = inf``, predicted mean ``mu_hat_1`` (clipped
sigmoid) and predicted precision ``1 / (mu_hat_1 (1 - mu_hat_1))`` (pyhgf stores the
variance there); a noisy binary input stores ``mean`` = the posterior P(x = 1 | u)
and ``precision = 1 / (mean (1 - mean))``.  ``surprise`` is the proper negative log
predictive density of
the observations (Gaussian with the total predictive variance, or Bernoulli);
``surprise_input`` is pyhgf's, which uses ``pi_u`` only; ``surprise_total`` sums
pyhgf's node surprises ``1/2 (log 2 pi - log pi_hat + pi_hat (mu - mu_hat)^2)`` over
all nodes (input: with ``pi_u``) skipping NaN.  Missing observations have surprise 0.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from . import _kernels as K

__all__ = ["HGFResult", "to_datatree", "pyhgf_surprises"]


@dataclass
class HGFResult:
    network: object
    observations: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    expected_mean: np.ndarray
    expected_precision: np.ndarray
    surprise: np.ndarray
    status: np.ndarray
    settings: dict
    elapsed: float


def pyhgf_surprises(network, mean, expected_mean, expected_precision, observations=None):
    """pyhgf's per-node surprise, input surprise and total surprise (NaN skipped).

    A noisy binary input (no pyhgf counterpart) gets the negative log of its mixture
    density, from ``observations`` (time x inputs).
    """
    first_input = None
    n_in = 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        node = 0.5 * (
            K.LOG2PI - np.log(expected_precision) + expected_precision * (mean - expected_mean) ** 2
        )
        for a, nd in enumerate(network.nodes):
            if nd.kind == K.INPUT_CONT:
                pu = nd.input_precision
                node[:, a] = 0.5 * (
                    K.LOG2PI - np.log(pu) + pu * (mean[:, a] - expected_mean[:, a]) ** 2
                )
            elif nd.kind == K.INPUT_BIN_NOISY and observations is not None:
                m, u, pu = expected_mean[:, a], observations[:, n_in], nd.input_precision
                eta0, eta1 = nd.input_values
                l1 = np.log(m) - 0.5 * pu * (u - eta1) ** 2
                l0 = np.log(1.0 - m) - 0.5 * pu * (u - eta0) ** 2
                node[:, a] = -np.logaddexp(l1, l0) - 0.5 * (np.log(pu) - K.LOG2PI)
            elif nd.kind == K.INPUT_BIN:
                m, u = expected_mean[:, a], mean[:, a]
                node[:, a] = np.where(u > 0.5, -np.log(m), -np.log(1.0 - m))
                node[np.isnan(u), a] = np.nan
            if nd.kind != K.CONT:
                n_in += 1
                if first_input is None:
                    first_input = a
    total = np.nansum(node, axis=1)
    total[np.isnan(node).all(axis=1)] = np.nan  # pandas' skipna sum, NaN when all are NaN
    return node, node[:, first_input], total


def to_datatree(res: HGFResult) -> xr.DataTree:
    """Assemble the DataTree of an HGF run."""
    from geobayes import __version__

    net = res.network
    T = res.observations.shape[0]
    names = list(net.node_names)
    coords = {"time": np.arange(T), "node": names}
    dims = ("time", "node")
    node_s, s_in, s_tot = pyhgf_surprises(
        net, res.mean, res.expected_mean, res.expected_precision, res.observations
    )
    code = int(res.status[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_f = 1.0 / np.sqrt(res.precision)
        sd_p = 1.0 / np.sqrt(res.expected_precision)
    filtered = xr.Dataset(
        {"mean": (dims, res.mean), "precision": (dims, res.precision), "sd": (dims, sd_f)},
        coords=coords,
    )
    predicted = xr.Dataset(
        {
            "mean": (dims, res.expected_mean),
            "precision": (dims, res.expected_precision),
            "sd": (dims, sd_p),
        },
        coords=coords,
    )
    stats = xr.Dataset(
        {
            "surprise": (("time",), res.surprise),
            "log_evidence_increment": (("time",), -res.surprise),
            "node_surprise": (dims, node_s),
            "surprise_input": (("time",), s_in),
            "surprise_total": (("time",), s_tot),
        },
        coords=coords,
    )
    observed = xr.Dataset(
        {"observations": (("time", "input"), res.observations)},
        coords={"time": np.arange(T), "input": list(net.input_names)},
    )
    attrs = {
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "inference_library": "geobayes",
        "inference_library_version": __version__,
        "version": __version__,
        "method": "hgf",
        "update": res.settings["update"],
        "settings": json.dumps({**res.settings, "network": net.to_dict()}),
        "total_surprise": float(np.nansum(res.surprise)),
        "log_evidence": -float(np.nansum(res.surprise)),
        "n_cycles": int(T),
        "filtering_time": res.elapsed,
        "failed": int(code != K.OK),
    }
    if code != K.OK:
        attrs["failed_step"] = int(res.status[1])
        attrs["failed_node"] = names[int(res.status[2])]
        attrs["failed_value"] = float(res.status[3])
    return xr.DataTree.from_dict(
        {
            "/": xr.Dataset(attrs=attrs),
            "filtered": filtered,
            "predicted": predicted,
            "sample_stats": stats,
            "observed_data": observed,
        }
    )
