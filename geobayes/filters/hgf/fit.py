r"""Fitting HGF parameters: the HGF as a geobayes :class:`~geobayes.Model`.

The log density on the unconstrained parameters :math:`\theta` is

.. math::

    \log p(\theta \mid u, y) = -\sum_k S_k(\theta) + \sum_i \log \mathcal N(\theta_i;
    m_i, s_i^2),

with :math:`S_k` the surprise of step ``k`` (spec ``hgf.md`` §6): of the observations
(``likelihood="observations"``: Gaussian predictive with variance
:math:`1/\hat\pi_1 + 1/\pi_u`, or Bernoulli for binary inputs), of the responses
(``"responses"``: binary softmax with inverse temperature :math:`\zeta`,
:math:`P(y_k = 1) = \hat\mu_1^\zeta / (\hat\mu_1^\zeta + (1 - \hat\mu_1)^\zeta)`), or
both.  Priors are normal on the unconstrained scale: tonic volatilities, drifts,
value couplings and initial means are unconstrained; volatility couplings, input
precisions, initial precisions and :math:`\zeta` are sampled on the log scale
(log-normal priors, so no Jacobian term is needed).  A failed run (classic update,
non-positive precision) has log density ``-inf`` so samplers reject it.

Gradient
--------
Exact to rounding, by **complex-step forward differentiation**: the network kernel
is compiled a second time for ``complex128`` and run once per parameter with
:math:`\theta_i + i h` (``h = 1e-20``); :math:`\partial f/\partial\theta_i =
\operatorname{Im} f / h` with no subtractive cancellation (Squire & Trapp 1998),
and the real part gives the value.  Every branch of the kernel compares real parts
(clipping and caps have derivative 0, as they should); the Lambert W step carries
:math:`dW/dL = W/(1+W)`.  Cost: ``dim`` complex passes per gradient.  The tests
check it against central finite differences.

Everything travels through ``fdata``/``idata``, so the one compiled
:func:`hgf_logdensity_and_grad` (type :data:`geobayes.types.LPG`) serves every
network, series and parameter set.

Examples
--------
>>> import numpy as np
>>> from geobayes.filters import hgf
>>> from geobayes.filters.hgf.fit import hgf_model
>>> u = np.cumsum(np.random.default_rng(0).normal(0, 0.01, 200))
>>> model = hgf_model(hgf.continuous_hgf(2), u, ["omega_x1", "omega_x2"])
>>> model.params
{'omega_x1': (), 'omega_x2': ()}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from numba import complex128, njit

from . import _kernels as K
from .network import Network, Prediction, Update, ValueUpdate
from .run import prepare_observations

__all__ = [
    "FreeParameter",
    "hgf_model",
    "hgf_logdensity_and_grad",
    "hgf_pointwise_loglik",
    "pack",
    "default_parameters",
]

# parameter targets
T_NODE, T_EDGE, T_GLOBAL = 0, 1, 2
TR_ID, TR_LOG = 0, 1
# likelihood kinds
LIK_OBS, LIK_RESP, LIK_BOTH = 0, 1, 2
_LIK = {"observations": LIK_OBS, "responses": LIK_RESP, "both": LIK_BOTH}
# idata header
I_N, I_E, I_T, I_NIN, I_NRESP, I_D, I_LIK, I_NINET = range(8)
I_HEAD = 8
CS_STEP = 1e-20

_NODE_KINDS = {  # prefix -> (column, transform, default prior sd)
    "omega": (K.OMEGA, TR_ID, 2.0),
    "rho": (K.RHO, TR_ID, 1.0),
    "lambda": (K.LAMBDA, TR_ID, 0.5),
    "mu0": (K.MEAN0, TR_ID, 1.0),
    "pi0": (K.PREC0, TR_LOG, 1.0),
    "pi_u": (K.INPUT_PREC, TR_LOG, 1.0),
}


@dataclass(frozen=True)
class FreeParameter:
    """One fitted parameter.

    Attributes
    ----------
    name : str
        Name in the trace, e.g. ``"omega_x2"``, ``"kappa_x1"``, ``"zeta"``.
    target : int
        ``T_NODE``, ``T_EDGE`` or ``T_GLOBAL``.
    index : int
        Node index, edge index, or global slot.
    column : int
        Node parameter column (``T_NODE`` only).
    transform : int
        ``TR_ID`` (theta = value) or ``TR_LOG`` (theta = log value).
    prior_mean, prior_sd : float
        Normal prior on the unconstrained theta.
    """

    name: str
    target: int
    index: int
    column: int
    transform: int
    prior_mean: float
    prior_sd: float


def _resolve(network: Network, name: str, prior=None) -> FreeParameter:
    """Parse ``omega_<node>``, ``rho_<node>``, ``lambda_<node>``, ``mu0_<node>``,
    ``pi0_<node>``, ``pi_u_<input>``, ``kappa_<child>[_<parent>]``,
    ``alpha_<child>[_<parent>]`` or ``zeta``."""
    nodes = network.node_names

    def edge(rest, volatility):
        if rest in nodes:
            ps = network.parents(rest, volatility=volatility)
            if len(ps) != 1:
                raise ValueError(
                    f"{name!r}: node {rest!r} has {len(ps)} "
                    f"{'volatility' if volatility else 'value'} parents; name the "
                    "parent as <kind>_<child>_<parent>"
                )
            return network.edge_index(rest, ps[0])
        for c in nodes:
            if rest.startswith(c + "_") and rest[len(c) + 1 :] in nodes:
                k = network.edge_index(c, rest[len(c) + 1 :])
                if network.edges[k].volatility != volatility:
                    break
                return k
        raise ValueError(f"{name!r}: no such {'volatility' if volatility else 'value'} coupling")

    if name == "zeta":
        fp = (T_GLOBAL, K.G_ZETA, 0, TR_LOG, 0.0, 1.0)
    elif name.startswith("kappa_"):
        e = edge(name[6:], True)
        fp = (T_EDGE, e, 0, TR_LOG, math.log(network.edges[e].coupling), 0.5)
    elif name.startswith("alpha_"):
        e = edge(name[6:], False)
        fp = (T_EDGE, e, 0, TR_ID, network.edges[e].coupling, 0.5)
    else:
        for prefix, (col, tr, sd) in sorted(_NODE_KINDS.items(), key=lambda kv: -len(kv[0])):
            if name.startswith(prefix + "_") and name[len(prefix) + 1 :] in nodes:
                i = nodes.index(name[len(prefix) + 1 :])
                nd = network.nodes[i]
                if (col == K.INPUT_PREC) != (nd.kind in (K.INPUT_CONT, K.INPUT_BIN_NOISY)):
                    raise ValueError(f"{name!r}: parameter does not apply to node {nd.name!r}")
                val = float(nd.row()[col])
                fp = (T_NODE, i, col, tr, math.log(val) if tr == TR_LOG else val, sd)
                break
        else:
            raise ValueError(
                f"unknown HGF parameter {name!r}; use omega_<node>, rho_<node>, lambda_<node>, "
                "mu0_<node>, pi0_<node>, pi_u_<input>, kappa_<child>[_<parent>], "
                f"alpha_<child>[_<parent>] or zeta (nodes: {', '.join(nodes)})"
            )
    target, index, column, tr, m, sd = fp
    if prior is not None:
        try:
            m, sd = (float(v) for v in prior)
        except (TypeError, ValueError):
            raise TypeError(
                f"prior of {name!r} must be (mean, sd) on the unconstrained scale, got {prior!r}"
            ) from None
        if not (math.isfinite(m) and math.isfinite(sd) and sd > 0):
            raise ValueError(f"prior of {name!r} needs a finite mean and sd > 0, got {prior!r}")
    return FreeParameter(name, target, index, column, tr, m, sd)


def default_parameters(network: Network) -> list[str]:
    """Tonic volatilities of every state node and every volatility coupling."""
    names = [f"omega_{nd.name}" for nd in network.nodes if nd.kind == K.CONT]
    for e in network.edges:
        if e.volatility:
            names.append(f"kappa_{network.nodes[e.child].name}_{network.nodes[e.parent].name}")
    return names


def pack(
    network: Network,
    observations,
    free: list[FreeParameter],
    *,
    update="robust",
    prediction="mean_field",
    value_update="canonical",
    responses=None,
    likelihood="observations",
    time_step=1.0,
    response_input: int = 0,
):
    """Flatten network, data, parameter map and priors into ``(fdata, idata)``."""
    update = Update.parse(update)
    obs = prepare_observations(network, observations)
    T = obs.shape[0]
    lik = _LIK.get(likelihood)
    if lik is None:
        raise ValueError(f"likelihood must be one of {sorted(_LIK)}, got {likelihood!r}")
    resp = np.empty(0)
    if responses is not None:
        resp = np.ascontiguousarray(np.asarray(responses, dtype=np.float64).ravel())
        if resp.shape != (T,):
            raise ValueError(f"responses must have shape ({T},), got {np.shape(responses)}")
        ok = np.isnan(resp) | (resp == 0.0) | (resp == 1.0)
        if not ok.all():
            raise ValueError("responses must be 0, 1 or NaN (no response)")
        ins = [nd for nd in network.nodes if nd.kind != K.CONT]
        if ins[response_input].kind not in (K.INPUT_BIN, K.INPUT_BIN_NOISY):
            raise ValueError("the binary softmax response model needs a binary input")
    if lik != LIK_OBS and responses is None:
        raise ValueError(f"likelihood={likelihood!r} needs responses")
    inet, npar, epar = network.compile(
        update,
        Prediction.parse(prediction),
        ValueUpdate.parse(value_update),
        "raise",
        "error",
        K.RESP_BINARY_SOFTMAX if responses is not None else K.RESP_NONE,
        response_input,
    )
    gpar = network.global_params(time_step)
    d = len(free)
    head = np.array(
        [npar.shape[0], epar.shape[0], T, obs.shape[1], resp.shape[0], d, lik, inet.shape[0]],
        np.int64,
    )
    pmap = np.array([[f.target, f.index, f.column, f.transform] for f in free], np.int64).reshape(
        d, 4
    )
    idata = np.ascontiguousarray(np.concatenate([head, inet, pmap.T.ravel()]))
    fdata = np.ascontiguousarray(
        np.concatenate(
            [
                gpar,
                npar.ravel(),
                epar,
                obs.ravel(),
                resp,
                [f.prior_mean for f in free],
                [f.prior_sd for f in free],
            ]
        ).astype(np.float64)
    )
    return fdata, idata


@njit(cache=True, nogil=True, error_model="numpy")
def _unpack(fdata, idata):
    n, E, T, nin, nresp, d = (
        idata[I_N],
        idata[I_E],
        idata[I_T],
        idata[I_NIN],
        idata[I_NRESP],
        idata[I_D],
    )
    ninet = idata[I_NINET]
    inet = idata[I_HEAD : I_HEAD + ninet]
    o = I_HEAD + ninet
    ptarget = idata[o : o + d]
    pindex = idata[o + d : o + 2 * d]
    pcol = idata[o + 2 * d : o + 3 * d]
    ptrans = idata[o + 3 * d : o + 4 * d]
    f = 0
    gpar = fdata[f : f + K.NG]
    f += K.NG
    npar = fdata[f : f + n * K.NP].reshape((n, K.NP))
    f += n * K.NP
    epar = fdata[f : f + E]
    f += E
    obs = fdata[f : f + T * nin].reshape((T, nin))
    f += T * nin
    resp = fdata[f : f + nresp]
    f += nresp
    pm = fdata[f : f + d]
    ps = fdata[f + d : f + 2 * d]
    return inet, gpar, npar, epar, obs, resp, ptarget, pindex, pcol, ptrans, pm, ps


@njit(cache=True, nogil=True, error_model="numpy")
def _apply(theta_i, trans):
    return np.exp(theta_i) if trans == TR_LOG else theta_i


# Compiled lazily (one signature, cached): geobayes.Model calls ``compile(LPG_SIG.args)`` itself,
# which an eagerly-compiled dispatcher refuses ("compilation disabled").
@njit(cache=True, nogil=True, error_model="numpy")
def hgf_logdensity_and_grad(theta, fdata, idata):
    """Log posterior of HGF parameters and its gradient (complex step); type ``LPG``."""
    inet, gpar, npar, epar, obs, resp, ptarget, pindex, pcol, ptrans, pm, ps = _unpack(fdata, idata)
    d = theta.shape[0]
    lik = idata[I_LIK]
    n = npar.shape[0]
    grad = np.zeros(d)
    lp_prior = 0.0
    for i in range(d):
        z = (theta[i] - pm[i]) / ps[i]
        lp_prior += -0.5 * z * z - np.log(ps[i]) - 0.5 * K.LOG2PI
        grad[i] = -z / ps[i]
    if not np.all(np.isfinite(theta)):
        return -np.inf, np.zeros(d)
    # complex copies with every parameter set
    npc = npar.astype(complex128)
    epc = epar.astype(complex128)
    gpc = gpar.astype(complex128)
    for i in range(d):
        v = _apply(theta[i], ptrans[i])
        if ptarget[i] == T_NODE:
            npc[pindex[i], pcol[i]] = v
        elif ptarget[i] == T_EDGE:
            epc[pindex[i]] = v
        else:
            gpc[pindex[i]] = v
    empty2 = np.empty((0, n), dtype=complex128)
    empty1 = np.empty(0, dtype=complex128)
    status = np.zeros(4)
    value = 0.0
    for i in range(max(d, 1)):
        if d > 0:
            v = _apply(theta[i] + 1j * CS_STEP, ptrans[i])
            if ptarget[i] == T_NODE:
                old = npc[pindex[i], pcol[i]]
                npc[pindex[i], pcol[i]] = v
            elif ptarget[i] == T_EDGE:
                old = epc[pindex[i]]
                epc[pindex[i]] = v
            else:
                old = gpc[pindex[i]]
                gpc[pindex[i]] = v
        s_in, s_resp = K.filter_core(
            inet, npc, epc, gpc, obs, resp, 0, empty2, empty2, empty2, empty2, empty1, status
        )
        if status[0] != K.OK:
            return -np.inf, np.zeros(d)
        if lik == LIK_OBS:
            ll = -s_in
        elif lik == LIK_RESP:
            ll = -s_resp
        else:
            ll = -(s_in + s_resp)
        if not (np.isfinite(ll.real) and np.isfinite(ll.imag)):
            return -np.inf, np.zeros(d)
        value = ll.real
        if d > 0:
            grad[i] += ll.imag / CS_STEP
            if ptarget[i] == T_NODE:
                npc[pindex[i], pcol[i]] = old
            elif ptarget[i] == T_EDGE:
                epc[pindex[i]] = old
            else:
                gpc[pindex[i]] = old
    return value + lp_prior, grad


@njit(cache=True, nogil=True, error_model="numpy")
def hgf_pointwise_loglik(theta, fdata, idata):
    """Per-step log-likelihood (minus the observation surprise) for ``arviz.loo``."""
    inet, gpar, npar, epar, obs, resp, ptarget, pindex, pcol, ptrans, pm, ps = _unpack(fdata, idata)
    npr = npar.copy()
    epr = epar.copy()
    gpr = gpar.copy()
    for i in range(theta.shape[0]):
        v = _apply(theta[i], ptrans[i])
        if ptarget[i] == T_NODE:
            npr[pindex[i], pcol[i]] = v
        elif ptarget[i] == T_EDGE:
            epr[pindex[i]] = v
        else:
            gpr[pindex[i]] = v
    T, n = obs.shape[0], npar.shape[0]
    out = [np.empty((T, n)) for _ in range(4)]
    surp = np.empty(T)
    status = np.zeros(4)
    K.filter_core(inet, npr, epr, gpr, obs, resp, 1, out[0], out[1], out[2], out[3], surp, status)
    if status[0] != K.OK:
        return np.full(T, -np.inf)
    return -surp


def hgf_model(
    network: Network,
    observations,
    parameters=None,
    *,
    priors=None,
    update="robust",
    prediction="mean_field",
    value_update="canonical",
    responses=None,
    likelihood=None,
    time_step=1.0,
    name="hgf",
):
    """An HGF with unknown parameters as a :class:`geobayes.Model`.

    Parameters
    ----------
    network : Network
        Fixed parameters are read from it; free ones start at their prior mean.
    observations : array_like
        The inputs (as for :func:`geobayes.filters.hgf.run`; no missing values).
    parameters : list of str, optional
        Free parameters: ``omega_<node>``, ``rho_<node>``, ``lambda_<node>``,
        ``mu0_<node>``, ``pi0_<node>``, ``pi_u_<input>``, ``kappa_<child>[_<parent>]``,
        ``alpha_<child>[_<parent>]``, ``zeta``.  Default: every tonic volatility and
        volatility coupling (:func:`default_parameters`).
    priors : dict, optional
        ``name -> (mean, sd)`` normal prior on the unconstrained scale (log scale for
        kappa, pi0, pi_u, zeta).  Default: mean = the network's current value (zeta:
        log 1), sd 2 for omega, 0.5 for log kappa and alpha, 1 otherwise.
    update, prediction, value_update, time_step
        As for :func:`~geobayes.filters.hgf.run`.
    responses : array_like of 0/1/NaN, optional
        Binary responses for the softmax response model (needs a binary input).
    likelihood : {"observations", "responses", "both"}, optional
        Default: ``"responses"`` when responses are given, else ``"observations"``.

    Returns
    -------
    geobayes.Model
        With ``logdensity_and_grad = hgf_logdensity_and_grad`` and data ``(fdata, idata)``;
        ``constrain`` maps to the natural scale.
    """
    from geobayes import Model

    if not isinstance(network, Network):
        raise TypeError(f"network must be an HGF Network, got {type(network).__name__}")
    names = default_parameters(network) if parameters is None else list(parameters)
    if not names:
        raise ValueError("no free parameters")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate parameter names in {names}")
    priors = dict(priors or {})
    unknown = set(priors) - set(names)
    if unknown:
        raise ValueError(f"priors given for parameters that are not free: {sorted(unknown)}")
    free = [_resolve(network, nm, priors.get(nm)) for nm in names]
    if likelihood is None:
        likelihood = "responses" if responses is not None else "observations"
    fdata, idata = pack(
        network,
        observations,
        free,
        update=update,
        prediction=prediction,
        value_update=value_update,
        responses=responses,
        likelihood=likelihood,
        time_step=time_step,
    )
    trans = np.array([f.transform for f in free])
    pmean = np.array([f.prior_mean for f in free])
    psd = np.array([f.prior_sd for f in free])

    def constrain(theta_batch):
        tb = np.atleast_2d(np.asarray(theta_batch, dtype=np.float64))
        vals = np.where(trans == TR_LOG, np.exp(tb), tb)
        return {f.name: vals[:, i] for i, f in enumerate(free)}

    def initial_point(rng):
        return pmean + 0.1 * psd * rng.uniform(-1.0, 1.0, size=pmean.size)

    obs = prepare_observations(network, observations)
    observed = {"observations": obs}
    if responses is not None:
        observed["responses"] = np.asarray(responses, dtype=np.float64)
    model = Model(
        hgf_logdensity_and_grad,
        params={f.name: () for f in free},
        name=name,
        data=(fdata, idata),
        constrain=constrain,
        initial_point=initial_point,
        observed_data=observed,
        pointwise_loglik=hgf_pointwise_loglik if likelihood == "observations" else None,
        description=f"HGF ({Update.parse(update).name.lower()} update), free: {', '.join(names)}",
    )
    model.hgf_parameters = free
    model.hgf_settings = json.dumps(
        {"update": Update.parse(update).name.lower(), "likelihood": likelihood, "parameters": names}
    )
    return model
