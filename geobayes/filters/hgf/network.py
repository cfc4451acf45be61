r"""HGF networks: nodes, couplings, schedules, and ready-made 2/3-level HGFs.

A network is built in Python and compiled once into flat arrays that the jitted
loop of :mod:`._kernels` runs over a whole series::

    >>> from geobayes.filters.hgf import Network
    >>> net = Network()
    >>> u = net.add_input("u", precision=1e4)
    >>> x1 = net.add_node("x1", tonic_volatility=-3.0)
    >>> x2 = net.add_node("x2", tonic_volatility=-3.0)
    >>> net.add_value_parent(u, x1, coupling=1.0)
    >>> net.add_volatility_parent(x1, x2, coupling=1.0)
    >>> net.node_names
    ('u', 'x1', 'x2')

which is what :func:`continuous_hgf` ``(levels=2)`` builds.  The schedule (pyhgf's
``get_update_sequence``) is computed from the graph: predictions top-down
(every parent before its children), then posteriors bottom-up (every child
before its parents).  The graph must be acyclic.

Variants are enums (:class:`Update`, :class:`Prediction`, :class:`ValueUpdate`,
:class:`OnFailure`, :class:`Missing`); strings are accepted at the front and
converted once.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as K

__all__ = [
    "Update",
    "Prediction",
    "ValueUpdate",
    "OnFailure",
    "Missing",
    "Node",
    "Network",
    "continuous_hgf",
    "binary_hgf",
    "simulate",
]


class _StrEnum(enum.IntEnum):
    """Integer enum accepting its name (case-insensitive) or an alias."""

    @classmethod
    def parse(cls, value):
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_")
            aliases = getattr(cls, "_aliases", lambda: {})()
            if key in aliases:
                return cls[aliases[key]]
            for m in cls:
                if m.name.lower() == key:
                    return m
        choices = ", ".join(repr(m.name.lower()) for m in cls)
        raise ValueError(f"{cls.__name__}: unknown value {value!r}; choose one of {choices}")


class Update(_StrEnum):
    """Volatility-coupling update: ``classic`` (Mathys 2011), ``ehgf`` (Weber 2023),
    ``robust`` (Lambert-W, Mathys et al. 2026; pyhgf's ``unbounded``)."""

    CLASSIC = K.CLASSIC
    EHGF = K.EHGF
    ROBUST = K.ROBUST

    @staticmethod
    def _aliases():
        return {"standard": "CLASSIC", "unbounded": "ROBUST", "uhgf": "ROBUST"}


class Prediction(_StrEnum):
    """Prediction of volatility: ``mean_field`` (classic HGF, pyhgf 0.2, TAPAS) or
    ``pyhgf`` (pyhgf >= 0.3 default: adds ``kappa^2 / (2 pi_hat_parent)`` to the
    log-volatility)."""

    MEAN_FIELD = K.MEAN_FIELD
    PYHGF = K.PYHGF

    @staticmethod
    def _aliases():
        return {"meanfield": "MEAN_FIELD", "classic": "MEAN_FIELD", "pihgf": "PYHGF"}


class ValueUpdate(_StrEnum):
    """Value-coupling precision of interior Gaussian children: ``canonical`` uses
    ``pi_hat_child``; ``smoothed`` uses ``pi_hat pi_y / (pi_hat + pi_y)`` (Weber 2026)."""

    CANONICAL = K.CANONICAL
    SMOOTHED = K.SMOOTHED


class OnFailure(_StrEnum):
    """What a non-positive posterior precision does: ``raise`` a ValueError naming the
    step and node, or ``nan``: NaN from there on, as pyhgf does."""

    RAISE = K.RAISE
    NAN = K.NAN


class Missing(_StrEnum):
    """NaN observations: ``error`` (default) or ``skip`` (no prediction error; every
    node whose children got no information keeps its prediction, so its precision
    just ages: ``pi <- 1 / (1/pi + Omega)``)."""

    ERROR = K.MISSING_ERROR
    SKIP = K.MISSING_SKIP


_KIND_NAMES = {
    K.CONT: "continuous",
    K.INPUT_CONT: "continuous-input",
    K.INPUT_BIN: "binary-input",
    K.INPUT_BIN_NOISY: "noisy-binary-input",
}


@dataclass
class Node:
    """One node of an HGF network.

    Attributes
    ----------
    name : str
    kind : int
        ``CONT`` (continuous state), ``INPUT_CONT`` (continuous observation, fixed
        precision ``input_precision``) or ``INPUT_BIN`` (binary observation).
    mean, precision : float
        Initial posterior mean and precision (continuous states).
    tonic_volatility, tonic_drift, autoconnection : float
        :math:`\\omega`, :math:`\\rho`, :math:`\\lambda` (continuous states).
    input_precision : float
        :math:`\\pi_u` of a continuous or noisy binary input.
    input_values : tuple of float
        :math:`(\\eta_0, \\eta_1)`, the sensory values of a noisy binary input.
    """

    name: str
    kind: int
    mean: float = 0.0
    precision: float = 1.0
    tonic_volatility: float = -3.0
    tonic_drift: float = 0.0
    autoconnection: float = 1.0
    input_precision: float = 1e4
    input_values: tuple = (0.0, 1.0)

    def row(self) -> np.ndarray:
        r = np.zeros(K.NP)
        r[K.MEAN0] = self.mean
        r[K.PREC0] = self.precision
        r[K.OMEGA] = self.tonic_volatility
        r[K.RHO] = self.tonic_drift
        r[K.LAMBDA] = self.autoconnection
        r[K.INPUT_PREC] = self.input_precision
        r[K.ETA0] = self.input_values[0]
        r[K.ETA1] = self.input_values[1]
        return r


@dataclass
class _Edge:
    child: int
    parent: int
    coupling: float
    volatility: bool


def _positive(name, value):
    v = float(value)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def _finite(name, value):
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


@dataclass
class Network:
    """A directed acyclic graph of HGF nodes with value and volatility couplings.

    Parameters
    ----------
    binary_clipping : float
        :math:`\\varepsilon`: binary predictions are clipped into
        ``[eps, 1 - eps]`` (pyhgf's ``precision_clipping_value``, 1e-6).
    max_precision : float
        Cap on posterior precisions (pyhgf's ``max_posterior_precision``, 1e10).
    """

    binary_clipping: float = 1e-6
    max_precision: float = 1e10
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    # ------------------------------------------------------------- building
    def _index(self, node) -> int:
        if isinstance(node, (int, np.integer)):
            if not 0 <= int(node) < len(self.nodes):
                raise ValueError(f"no node with index {node}")
            return int(node)
        for i, nd in enumerate(self.nodes):
            if nd.name == node:
                return i
        raise ValueError(f"no node named {node!r}")

    def _add(self, node: Node) -> int:
        if any(nd.name == node.name for nd in self.nodes):
            raise ValueError(f"a node named {node.name!r} already exists")
        self.nodes.append(node)
        return len(self.nodes) - 1

    def add_input(
        self, name: str, kind: str = "continuous", precision: float | None = None, values=(0.0, 1.0)
    ) -> int:
        """Add an observed input node; returns its index.

        ``kind="continuous"``: Gaussian observation of its value parent with fixed
        precision ``precision`` (default 1e4).  ``kind="binary"``: an exactly observed
        binary state (observations 0/1); with a ``precision`` it is a *noisy* binary
        input (Mathys et al. 2014, eq. 39): the hidden state x in {0, 1} is seen as a
        real ``u ~ N(values[x], 1/precision)``.
        """
        if kind == "continuous":
            pu = 1e4 if precision is None else precision
            return self._add(
                Node(name, K.INPUT_CONT, input_precision=_positive("input precision", pu))
            )
        if kind == "binary":
            if precision is None:
                return self._add(Node(name, K.INPUT_BIN))
            eta = tuple(_finite("input value", v) for v in values)
            if len(eta) != 2 or eta[0] == eta[1]:
                raise ValueError(
                    f"values must be two distinct numbers (eta0, eta1), got {values!r}"
                )
            return self._add(
                Node(
                    name,
                    K.INPUT_BIN_NOISY,
                    input_precision=_positive("input precision", precision),
                    input_values=eta,
                )
            )
        raise ValueError(f"input kind must be 'continuous' or 'binary', got {kind!r}")

    def add_node(
        self,
        name: str,
        mean: float = 0.0,
        precision: float = 1.0,
        tonic_volatility: float = -3.0,
        tonic_drift: float = 0.0,
        autoconnection: float = 1.0,
    ) -> int:
        """Add a continuous state node; returns its index."""
        return self._add(
            Node(
                name,
                K.CONT,
                mean=_finite("mean", mean),
                precision=_positive("precision", precision),
                tonic_volatility=_finite("tonic_volatility", tonic_volatility),
                tonic_drift=_finite("tonic_drift", tonic_drift),
                autoconnection=_finite("autoconnection", autoconnection),
            )
        )

    def _add_edge(self, child, parent, coupling, volatility):
        c, p = self._index(child), self._index(parent)
        if self.nodes[p].kind != K.CONT:
            raise ValueError(f"parent {self.nodes[p].name!r} must be a continuous state node")
        if volatility and self.nodes[c].kind != K.CONT:
            raise ValueError("only continuous state nodes can have volatility parents")
        if c == p:
            raise ValueError("a node cannot be its own parent")
        if any(e.child == c and e.parent == p for e in self.edges):
            raise ValueError(
                f"{self.nodes[p].name!r} is already a parent of {self.nodes[c].name!r}"
            )
        if volatility:
            coupling = _positive("volatility coupling", coupling)
        else:
            coupling = _finite("value coupling", coupling)
            if coupling == 0.0:
                raise ValueError("value coupling must be non-zero")
        self.edges.append(_Edge(c, p, coupling, volatility))
        try:
            self._schedule()  # raises on cycles
        except ValueError:
            self.edges.pop()
            raise

    def add_value_parent(self, child, parent, coupling: float = 1.0) -> None:
        """Make ``parent`` a value parent of ``child`` (coupling :math:`\\alpha`)."""
        self._add_edge(child, parent, coupling, False)

    def add_volatility_parent(self, child, parent, coupling: float = 1.0) -> None:
        """Make ``parent`` a volatility parent of ``child`` (coupling :math:`\\kappa > 0`)."""
        self._add_edge(child, parent, coupling, True)

    # ------------------------------------------------------------- inspection
    @property
    def node_names(self) -> tuple:
        return tuple(nd.name for nd in self.nodes)

    @property
    def input_names(self) -> tuple:
        return tuple(nd.name for nd in self.nodes if nd.kind != K.CONT)

    def parents(self, node, volatility: bool = False) -> list:
        i = self._index(node)
        return [
            self.nodes[e.parent].name
            for e in self.edges
            if e.child == i and e.volatility == volatility
        ]

    def children(self, node, volatility: bool = False) -> list:
        i = self._index(node)
        return [
            self.nodes[e.child].name
            for e in self.edges
            if e.parent == i and e.volatility == volatility
        ]

    def edge_index(self, child, parent) -> int:
        c, p = self._index(child), self._index(parent)
        for k, e in enumerate(self.edges):
            if e.child == c and e.parent == p:
                return k
        raise ValueError(f"{self.nodes[p].name!r} is not a parent of {self.nodes[c].name!r}")

    def _schedule(self):
        """Prediction order (parents first) and update order (children first)."""
        n = len(self.nodes)
        parents = [[] for _ in range(n)]
        for e in self.edges:
            parents[e.child].append(e.parent)
        order, state = [], [0] * n  # 0 new, 1 visiting, 2 done

        def visit(i):
            if state[i] == 2:
                return
            if state[i] == 1:
                raise ValueError(f"the network has a cycle through node {self.nodes[i].name!r}")
            state[i] = 1
            for p in sorted(parents[i]):
                visit(p)
            state[i] = 2
            order.append(i)

        # visit inputs first so that the order follows pyhgf's (top node first)
        for i in sorted(range(n), key=lambda i: (self.nodes[i].kind == K.CONT, i)):
            visit(i)
        pred = order  # parents before children
        upd = [i for i in reversed(order) if self.nodes[i].kind == K.CONT]
        return pred, upd

    def validate(self) -> None:
        """Check the network is usable: inputs exist and every input has a parent."""
        ins = [i for i, nd in enumerate(self.nodes) if nd.kind != K.CONT]
        if not ins:
            raise ValueError("the network has no input node")
        for i in ins:
            if not any(e.child == i and not e.volatility for e in self.edges):
                raise ValueError(f"input {self.nodes[i].name!r} has no value parent")

    def chain(self):
        """``([input, c1, c2, c3], [alpha, kappa1, kappa2])`` (shorter for fewer levels) if
        the network is a standard chain ``input <- c1 <-vol- c2 <-vol- c3``, else None."""
        ins = [i for i, nd in enumerate(self.nodes) if nd.kind != K.CONT]
        if len(ins) != 1 or len(self.nodes) > 4 or len(self.edges) != len(self.nodes) - 1:
            return None
        if self.nodes[ins[0]].kind == K.INPUT_BIN_NOISY:
            return None  # the general kernel handles noisy binary inputs
        nodes, edges = [ins[0]], []
        cur = ins[0]
        for level in range(len(self.nodes) - 1):
            ps = [k for k, e in enumerate(self.edges) if e.child == cur]
            if len(ps) != 1 or self.edges[ps[0]].volatility != (level > 0):
                return None
            cur = self.edges[ps[0]].parent
            nodes.append(cur)
            edges.append(ps[0])
        if any(e.child == cur for e in self.edges) or len(set(nodes)) != len(nodes):
            return None
        return nodes, edges

    # ------------------------------------------------------------- compiling
    def compile(
        self,
        update=Update.ROBUST,
        prediction=Prediction.MEAN_FIELD,
        value_update=ValueUpdate.CANONICAL,
        on_failure=OnFailure.RAISE,
        missing=Missing.ERROR,
        response: int = K.RESP_NONE,
        response_input: int = 0,
        fast_path: bool = True,
    ):
        """Return ``(inet, npar, epar)``, the arrays the kernels read.

        With ``fast_path`` (default), standard chains (:meth:`chain`) run in the
        scalar fast kernel; ``False`` forces the general graph kernel (tests compare them).
        """
        self.validate()
        n, E = len(self.nodes), len(self.edges)
        pred, upd = self._schedule()
        inputs = [i for i, nd in enumerate(self.nodes) if nd.kind != K.CONT]

        def csr(select, key):
            lists = [[] for _ in range(n)]
            for k, e in enumerate(self.edges):
                if select(e):
                    lists[key(e)].append(k)
            ptr = np.zeros(n + 1, np.int64)
            ptr[1:] = np.cumsum([len(x) for x in lists])
            ids = np.array([k for x in lists for k in x], np.int64)
            return ptr, ids

        vpar_ptr, vpar = csr(lambda e: not e.volatility, lambda e: e.child)
        wpar_ptr, wpar = csr(lambda e: e.volatility, lambda e: e.child)
        vch_ptr, vch = csr(lambda e: not e.volatility, lambda e: e.parent)
        wch_ptr, wch = csr(lambda e: e.volatility, lambda e: e.parent)
        blocks = [
            np.array([nd.kind for nd in self.nodes], np.int64),
            np.array([e.child for e in self.edges], np.int64),
            np.array([e.parent for e in self.edges], np.int64),
            np.array(pred, np.int64),
            np.array(upd, np.int64),
            np.array(inputs, np.int64),
            vpar_ptr,
            vpar,
            wpar_ptr,
            wpar,
            vch_ptr,
            vch,
            wch_ptr,
            wch,
        ]
        assert len(blocks) == K.NBLOCK
        head = np.zeros(K.HEADER, np.int64)
        head[K.H_N], head[K.H_E], head[K.H_NIN] = n, E, len(inputs)
        head[K.H_UPDATE] = Update.parse(update)
        head[K.H_PRED] = Prediction.parse(prediction)
        head[K.H_VALUE] = ValueUpdate.parse(value_update)
        head[K.H_FAIL] = OnFailure.parse(on_failure)
        head[K.H_MISSING] = Missing.parse(missing)
        head[K.H_RESP] = response
        head[K.H_NUPD] = len(upd)
        head[K.H_RESP_INPUT] = response_input
        chain = self.chain() if fast_path else None
        if chain is not None:
            nodes_, edges_ = chain
            head[K.H_CHAIN] = len(nodes_) - 1
            head[K.H_CIDX : K.H_CIDX + 4] = (nodes_ + [-1, -1, -1])[:4]
            head[K.H_CIDX + 4 : K.H_CIDX + 7] = (edges_ + [-1, -1])[:3]
        pos = K.HEADER
        for b, arr in enumerate(blocks):
            head[K.H_OFF + b] = pos
            pos += len(arr)
        head[K.H_OFF + K.NBLOCK] = pos
        inet = np.ascontiguousarray(np.concatenate([head] + blocks).astype(np.int64))
        npar = np.ascontiguousarray(np.array([nd.row() for nd in self.nodes], np.float64))
        epar = np.ascontiguousarray(np.array([e.coupling for e in self.edges], np.float64))
        return inet, npar, epar

    def global_params(self, time_step: float = 1.0, zeta: float = 1.0) -> np.ndarray:
        g = np.zeros(K.NG)
        g[K.G_TIME] = _positive("time_step", time_step)
        g[K.G_ZETA] = zeta
        g[K.G_EPS] = self.binary_clipping
        g[K.G_MAXPREC] = self.max_precision
        return g

    def to_dict(self) -> dict:
        """A JSON-able description (stored in the trace's settings)."""
        return {
            "nodes": [
                {
                    "name": nd.name,
                    "kind": _KIND_NAMES[nd.kind],
                    "mean": nd.mean,
                    "precision": nd.precision,
                    "tonic_volatility": nd.tonic_volatility,
                    "tonic_drift": nd.tonic_drift,
                    "autoconnection": nd.autoconnection,
                    "input_precision": nd.input_precision,
                    "input_values": list(nd.input_values),
                }
                for nd in self.nodes
            ],
            "edges": [
                {
                    "child": self.nodes[e.child].name,
                    "parent": self.nodes[e.parent].name,
                    "coupling": e.coupling,
                    "type": "volatility" if e.volatility else "value",
                }
                for e in self.edges
            ],
            "binary_clipping": self.binary_clipping,
            "max_precision": self.max_precision,
        }

    def __repr__(self) -> str:
        return f"Network({json.dumps(self.to_dict()['edges'])})"

    # ------------------------------------------------------------- running
    def run_filter(
        self, observations, update="robust", *, method=None, seed=None, progress=None, **kwargs
    ):
        """Run the HGF over ``observations``; see :func:`geobayes.filters.hgf.run`.

        This is the hook ``geobayes.filter(network, observations, ...)`` delegates to.
        ``method`` may be ``"hgf"`` or an update name (then it sets ``update``);
        ``seed`` and ``progress`` are accepted and ignored (the HGF is
        deterministic and runs in milliseconds).
        """
        from .run import run

        del seed, progress
        if method is not None and str(method).lower() != "hgf":
            try:
                update = Update.parse(method)
            except ValueError:
                raise ValueError(
                    f"method {method!r} does not apply to an HGF network: geobayes.filter on "
                    "a Network runs the HGF; pass method='hgf' (or leave it out) with "
                    "update='robust', 'classic' or 'ehgf'. The ensemble and particle "
                    "filters need a state-space model (geobayes.filters.models)"
                ) from None
        return run(self, observations, update=update, **kwargs)


def _per_level(name, v, k):
    """``v`` as ``k`` floats: a scalar is repeated, a sequence must have ``k`` values."""
    a = np.broadcast_to(np.asarray(v, float), (k,)) if np.ndim(v) == 0 else np.asarray(v, float)
    if a.shape != (k,):
        raise ValueError(f"{name} needs {k} values, got {np.shape(v)}")
    return a


def _add_chain(net, child, names, *, volatility_coupling, **per_node):
    """Add continuous nodes ``names`` above ``child``: the first its value parent
    (alpha = 1), each next one the volatility parent of the one before (kappa).
    ``per_node`` (tonic_volatility, mean, precision, tonic_drift, autoconnection) and
    ``volatility_coupling`` take a scalar or one value per node / per volatility edge."""
    k = len(names)
    vals = {key: _per_level(key, v, k) for key, v in per_node.items()}
    ka = _per_level("volatility_coupling", volatility_coupling, k - 1)
    for i, name in enumerate(names):
        net.add_node(name, **{key: float(a[i]) for key, a in vals.items()})
    net.add_value_parent(child, names[0], 1.0)
    for i in range(1, k):
        net.add_volatility_parent(names[i - 1], names[i], float(ka[i - 1]))


def continuous_hgf(
    levels: int = 2,
    input_precision: float = 1e4,
    tonic_volatility=-3.0,
    volatility_coupling=1.0,
    mean=0.0,
    precision=1.0,
    tonic_drift=0.0,
    autoconnection=1.0,
    **network_kwargs,
) -> Network:
    """The standard continuous 2- or 3-level HGF with pyhgf's former ``HGF`` defaults.

    Input ``u`` (precision ``input_precision``) <- ``x1`` (value parent, alpha = 1)
    <- ``x2`` (volatility parent of x1, kappa) [<- ``x3`` (volatility parent of x2)].

    Parameters
    ----------
    levels : {2, 3}
    tonic_volatility, volatility_coupling, mean, precision, tonic_drift, autoconnection
        A scalar for every level, or a sequence with one value per level
        (``volatility_coupling``: one per volatility edge, ``levels - 1`` values).
    """
    if levels not in (2, 3):
        raise ValueError(f"levels must be 2 or 3, got {levels!r}")
    net = Network(**network_kwargs)
    net.add_input("u", "continuous", input_precision)
    _add_chain(
        net,
        "u",
        [f"x{i + 1}" for i in range(levels)],
        tonic_volatility=tonic_volatility,
        volatility_coupling=volatility_coupling,
        mean=mean,
        precision=precision,
        tonic_drift=tonic_drift,
        autoconnection=autoconnection,
    )
    return net


def binary_hgf(
    levels: int = 3,
    tonic_volatility=-3.0,
    volatility_coupling=1.0,
    mean=0.0,
    precision=1.0,
    tonic_drift=0.0,
    autoconnection=1.0,
    input_precision=None,
    input_values=(0.0, 1.0),
    **network_kwargs,
) -> Network:
    """The standard binary 2- or 3-level HGF with pyhgf's former ``HGF`` defaults.

    Binary input ``x1`` <- ``x2`` (value parent, alpha = 1) [<- ``x3`` (volatility
    parent of x2, kappa)].  Per-level arguments refer to the continuous levels
    x2 (and x3).  With ``input_precision`` the input is a noisy binary input with
    sensory values ``input_values`` (see :meth:`Network.add_input`).
    """
    if levels not in (2, 3):
        raise ValueError(f"levels must be 2 or 3, got {levels!r}")
    net = Network(**network_kwargs)
    net.add_input("x1", "binary", precision=input_precision, values=input_values)
    _add_chain(
        net,
        "x1",
        [f"x{i + 2}" for i in range(levels - 1)],
        tonic_volatility=tonic_volatility,
        volatility_coupling=volatility_coupling,
        mean=mean,
        precision=precision,
        tonic_drift=tonic_drift,
        autoconnection=autoconnection,
    )
    return net


def simulate(network: Network, n_steps: int, seed=None, time_step: float = 1.0):
    r"""Draw states and observations from the HGF generative model (spec §1).

    :math:`x_a^{(k)} \sim \mathcal N(\lambda_a x_a^{(k-1)} + t(\rho_a + \sum_b \alpha_b
    x_b^{(k)}),\; t\,e^{\omega_a + \sum_j \kappa_j x_j^{(k)}})`, parents first, starting
    from the initial means; continuous inputs :math:`u \sim \mathcal N(\sum \alpha x,
    1/\pi_u)`, binary inputs :math:`u \sim \mathrm{Bernoulli}(s(\sum \alpha x))`.

    Returns
    -------
    states : ndarray of shape (n_steps, n_nodes)
        Hidden states (inputs: the observations, also returned separately).
    observations : ndarray of shape (n_steps, n_inputs)
    """
    network.validate()
    rng = np.random.default_rng(seed)
    pred, _ = network._schedule()
    n = len(network.nodes)
    x = np.array([nd.mean for nd in network.nodes], float)
    states = np.empty((n_steps, n))
    vpar = [
        [(e.parent, e.coupling) for e in network.edges if e.child == a and not e.volatility]
        for a in range(n)
    ]
    wpar = [
        [(e.parent, e.coupling) for e in network.edges if e.child == a and e.volatility]
        for a in range(n)
    ]
    t = time_step
    for k in range(n_steps):
        new = x.copy()
        for a in pred:
            nd = network.nodes[a]
            drive = sum(al * new[b] for b, al in vpar[a])
            if nd.kind == K.CONT:
                logvar = math.log(t) + nd.tonic_volatility + sum(ka * new[j] for j, ka in wpar[a])
                mean = nd.autoconnection * x[a] + t * (nd.tonic_drift + drive)
                new[a] = rng.normal(mean, math.exp(0.5 * logvar))
            elif nd.kind == K.INPUT_CONT:
                new[a] = rng.normal(drive, 1.0 / math.sqrt(nd.input_precision))
            else:
                new[a] = float(rng.uniform() < 1.0 / (1.0 + math.exp(-drive)))
                if nd.kind == K.INPUT_BIN_NOISY:
                    new[a] = rng.normal(
                        nd.input_values[int(new[a])], 1.0 / math.sqrt(nd.input_precision)
                    )
        x = new
        states[k] = x
    ins = [i for i, nd in enumerate(network.nodes) if nd.kind != K.CONT]
    return states, np.ascontiguousarray(states[:, ins])
