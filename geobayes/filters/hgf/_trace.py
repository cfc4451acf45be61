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
import pandas as pd
import xarray as xr
from numba import njit

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


@njit(cache=True, nogil=True, error_model="numpy")
def _derived(mean, prec, emean, eprec, obs, kind, pu, eta0, eta1, col, with_obs):
    """One pass over the trajectories: both sds and pyhgf's surprises (see
    :func:`pyhgf_surprises`), without the temporaries of the NumPy expressions."""
    T, n = mean.shape
    sd_f = np.empty((T, n))
    sd_p = np.empty((T, n))
    node = np.empty((T, n))
    total = np.empty(T)
    for k in range(T):
        acc = 0.0
        seen = False
        for a in range(n):
            sd_f[k, a] = 1.0 / np.sqrt(prec[k, a])
            sd_p[k, a] = 1.0 / np.sqrt(eprec[k, a])
            kd = kind[a]
            m = mean[k, a]
            if kd == K.INPUT_CONT:
                d = m - emean[k, a]
                v = 0.5 * (K.LOG2PI - np.log(pu[a]) + pu[a] * d * d)
            elif kd == K.INPUT_BIN_NOISY and with_obs:
                u = obs[k, col[a]]
                e = emean[k, a]
                l1 = np.log(e) - 0.5 * pu[a] * (u - eta1[a]) ** 2
                l0 = np.log(1.0 - e) - 0.5 * pu[a] * (u - eta0[a]) ** 2
                v = -K._logaddexp(l1, l0) - 0.5 * (np.log(pu[a]) - K.LOG2PI)
            elif kd == K.INPUT_BIN:
                e = emean[k, a]
                if m != m:
                    v = np.nan
                elif m > 0.5:
                    v = -np.log(e)
                else:
                    v = -np.log(1.0 - e)
            else:
                d = m - emean[k, a]
                v = 0.5 * (K.LOG2PI - np.log(eprec[k, a]) + eprec[k, a] * d * d)
            node[k, a] = v
            if v == v:
                acc += v
                seen = True
        total[k] = acc if seen else np.nan  # pandas' skipna sum, NaN when all are NaN
    return sd_f, sd_p, node, total


def _node_tables(network):
    n = len(network.nodes)
    kind = np.array([nd.kind for nd in network.nodes], dtype=np.int64)
    pu = np.ones(n)
    eta0 = np.zeros(n)
    eta1 = np.ones(n)
    col = np.full(n, -1, dtype=np.int64)
    first_input = None
    n_in = 0
    for a, nd in enumerate(network.nodes):
        if nd.kind != K.CONT:
            col[a] = n_in
            n_in += 1
            first_input = a if first_input is None else first_input
            if nd.kind in (K.INPUT_CONT, K.INPUT_BIN_NOISY):
                pu[a] = nd.input_precision
            if nd.kind == K.INPUT_BIN_NOISY:
                eta0[a], eta1[a] = nd.input_values
    return kind, pu, eta0, eta1, col, first_input


def _all_derived(network, mean, prec, expected_mean, expected_precision, observations=None):
    kind, pu, eta0, eta1, col, first_input = _node_tables(network)
    with_obs = observations is not None
    obs = np.ascontiguousarray(observations, dtype=float) if with_obs else np.empty((0, 0))
    sd_f, sd_p, node, total = _derived(
        np.ascontiguousarray(mean, dtype=float),
        np.ascontiguousarray(prec, dtype=float),
        np.ascontiguousarray(expected_mean, dtype=float),
        np.ascontiguousarray(expected_precision, dtype=float),
        obs,
        kind,
        pu,
        eta0,
        eta1,
        col,
        with_obs,
    )
    return sd_f, sd_p, node, node[:, first_input], total


def pyhgf_surprises(network, mean, expected_mean, expected_precision, observations=None):
    """pyhgf's per-node surprise, input surprise and total surprise (NaN skipped).

    Per node ``1/2 (log 2 pi - log pi_hat + pi_hat (mu - mu_hat)^2)`` (a continuous
    input uses ``pi_u``), Bernoulli for a binary input; a noisy binary input (no pyhgf
    counterpart) gets the negative log of its mixture density, from ``observations``
    (time x inputs).
    """
    _f, _p, node, s_in, total = _all_derived(
        network, mean, expected_precision, expected_mean, expected_precision, observations
    )
    return node, s_in, total


def to_datatree(res: HGFResult) -> xr.DataTree:
    """Assemble the DataTree of an HGF run."""
    from geobayes import __version__

    net = res.network
    T = res.observations.shape[0]
    names = list(net.node_names)
    time_index = pd.RangeIndex(T, name="time")  # no array to copy per dataset
    coords = {"time": time_index, "node": names}
    dims = ("time", "node")
    sd_f, sd_p, node_s, s_in, s_tot = _all_derived(
        net, res.mean, res.precision, res.expected_mean, res.expected_precision, res.observations
    )
    code = int(res.status[0])
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
        coords={"time": time_index, "input": list(net.input_names)},
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
