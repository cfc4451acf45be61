"""PyMC models as geobayes models: ``Model.from_pymc(pymc_model)``.

PyMC builds a model's joint log density as a PyTensor graph on its *value
variables*, the unconstrained (transformed) versions of the free random variables
(``sigma_log__``, ``w_simplex__``, ...), log-Jacobians included.  This module
compiles that graph and its gradient with PyTensor's Numba backend, as nutpie's
``compile_pymc`` does, and wraps the result in one small jitted function of the
:data:`geobayes.types.LPG` type, so every geobayes sampler kernel (compiled once,
cached on disk) runs the model unchanged: only the model's own function compiles,
once per model.

Data as data
------------
The graph's data nodes (PyMC's shared variables, i.e. ``pm.Data`` and dimension
lengths, the observed values, and any other constant array of at least
``lift_constants`` elements) are replaced by graph inputs before compiling.  Their
values travel in the model's ``fdata`` (float dtypes, as float64) and ``idata``
(integer and boolean dtypes, as int64) vectors; ``idata`` opens with a header giving
each input's offset, size and shape, so neither values nor shapes are baked into the
compiled code.  :meth:`PyMCModel.with_data` returns a model on new data (for example
after ``pm.set_data``) that reuses the compiled functions.  Inputs that PyTensor
needs as constants cannot be lifted this way; none of PyMC's own data nodes are of
that kind, and when lifting the other constants makes compilation fail, they are
left in the graph (the model records which in ``lifted``).

The trace
---------
``posterior`` holds PyMC's constrained free variables and its deterministics under
their own names, with the model's ``dims`` and ``coords``; ``observed_data`` and
``constant_data`` are PyMC's (``pymc.backends.arviz.find_observations`` and
``find_constants``); ``log_likelihood`` has one variable per observed variable, so
``arviz.loo`` works.  These two functions (constrained values, pointwise
log-likelihoods) are compiled the same way on first use.

Examples
--------
>>> import numpy as np, pymc as pm
>>> import geobayes
>>> with pm.Model(coords={"obs": range(5)}) as pm_model:
...     mu = pm.Normal("mu", 0.0, 10.0)
...     sigma = pm.HalfNormal("sigma", 1.0)
...     _ = pm.Normal("y", mu, sigma, observed=np.arange(5.0), dims="obs")
>>> model = geobayes.Model.from_pymc(pm_model)
>>> model.params
{'mu': (), 'sigma_log__': ()}
>>> lp, grad = model.logdensity_and_grad(np.zeros(model.dim))
>>> grad.shape
(2,)

``geobayes.sample(model)`` (or ``geobayes.sample(pm_model)``) then gives a trace with
``posterior`` variables ``mu`` and ``sigma``, ``observed_data`` and ``log_likelihood``
``y`` with dims ``("chain", "draw", "obs")``.
"""

from __future__ import annotations

import math
import re
import time
import warnings
import weakref

import numpy as np
from numba import njit

from geobayes.models.base import Model, _batch_pointwise
from geobayes.types import LPG_SIG, POINTWISE_SIG

__all__ = ["from_pymc", "PyMCModel"]

_FALLBACK_WARNING = re.compile(r"Numba will use object mode to run (.*)'s perform method")

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _import():
    try:
        import pymc
        import pytensor
    except ImportError as exc:
        raise ImportError(
            f"geobayes.Model.from_pymc needs PyMC: pip install 'geobayes[pymc]' ({exc})"
        ) from None
    return pymc, pytensor


def _wrapper_source(kind: str, n_inputs: int, header: list[tuple[int, int]]) -> str:
    """Source of the jitted wrapper unpacking ``fdata``/``idata`` into the graph's inputs.

    ``header[k] = (is_int, ndim)``; the header row of input ``k`` in ``idata`` starts at
    ``hdr[k]`` and holds ``offset, size, *shape``.
    """
    lines = [f"def {kind}(theta, fdata, idata):"]
    args = ["theta"]
    pos = 0
    for k, (is_int, ndim) in enumerate(header):
        src = "idata" if is_int else "fdata"
        block = f"{src}[idata[{pos}]:idata[{pos}] + idata[{pos + 1}]]"
        if ndim == 1:  # the slice is the input: no reshape (measured ~0.05 us per input)
            lines.append(f"    d{k} = {block}")
        else:
            shape = ", ".join(f"idata[{pos + 2 + i}]" for i in range(ndim))
            shape = f"({shape},)" if ndim else "()"
            lines.append(f"    d{k} = {block}.reshape({shape})")
        args.append(f"d{k}")
        pos += 2 + ndim
    lines.append(f"    out = inner({', '.join(args)})")
    if kind == "lpg":
        lines.append("    return out[0].item(), out[1]")
    else:
        lines.append("    return out[0]")
    assert len(header) == n_inputs
    return "\n".join(lines) + "\n"


def _graph_function(jit_fn, n_args):
    """PyTensor's graph function behind ``jit_fn``, to be inlined into the wrapper.

    PyTensor's Numba linker returns ``def f(*args): return jitable_func(*args)`` around the
    jitted graph function (for its disk cache).  The wrapper calls the graph function
    itself, inlined at Numba IR level (``inline="always"``): one function from ``fdata`` /
    ``idata`` to the outputs, no call layer (eight schools: 0.59 us per call through the
    ``LPG`` type against 0.73 us with ``jit_fn`` called; the bare ``jit_fn`` takes 0.62 us).
    Falls back to ``jit_fn`` when the layout is not the one expected.
    """
    inner = getattr(jit_fn, "py_func", None)
    inner = getattr(inner, "__globals__", {}).get("jitable_func")
    code = getattr(getattr(inner, "py_func", None), "__code__", None)
    if code is None or code.co_flags & 0x04 or code.co_argcount != n_args:  # 0x04: *args
        return jit_fn
    return njit(inline="always")(inner.py_func)


def _make_wrapper(kind, inner, header):
    namespace = {"inner": _graph_function(inner, len(header) + 1)}
    exec(_wrapper_source(kind, len(header), header), namespace)  # noqa: S102
    return njit(namespace[kind])


def _raise_on_fallback(caught, model_name):
    ops = []
    for w in caught:
        m = _FALLBACK_WARNING.search(str(w.message))
        if m and m.group(1) not in ops:
            ops.append(m.group(1))
    if ops:
        raise TypeError(
            f"PyMC model {model_name!r} uses PyTensor op(s) without a Numba implementation: "
            f"{', '.join(ops)}; geobayes runs models in Numba's nopython mode only. Rewrite "
            "that part of the model with supported operations, or implement numba_funcify "
            "for the op (pytensor.link.numba.dispatch)"
        )


class PyMCModel(Model):
    """A :class:`Model` compiled from a PyMC model; built by :func:`from_pymc`.

    Beyond :class:`Model`: ``pymc_model``, ``value_names`` (PyMC's value variables, the
    unconstrained coordinates in order), ``posterior_names``, ``observed_names``,
    ``constant_data``, ``lifted`` (names of the graph nodes passed as data) and
    ``compile_seconds`` (PyTensor + Numba compile time of each function, in seconds).
    """

    def loglik(self, theta_batch):
        """Pointwise log-likelihood per observed variable: dict ``name -> (n, *shape)``."""
        if not self.observed_names:
            return None
        fn = self._function("log_likelihood")
        thetas = np.ascontiguousarray(np.atleast_2d(theta_batch), dtype=np.float64)
        flat = _batch_pointwise(fn, thetas, self.fdata, self.idata, self._ll_size)
        return _split(flat, self._ll_layout)

    def with_data(self, **updates):
        """The same compiled model on new data values (``pm.Data`` names or observed names).

        Values default to the PyMC model's current ones (so after ``pm.set_data`` a bare
        ``model.with_data()`` picks them up).  Shapes must not change: the trace layout, dims
        and coords were derived from them, so a new shape raises a ``ValueError`` asking for a
        fresh ``Model.from_pymc`` (which recompiles only the model's own functions).
        """
        return self._builder.bind(updates, compiled=self)

    def _function(self, kind):
        return self._builder.function(kind)

    @property
    def compile_seconds(self) -> dict[str, float]:
        return dict(self._builder.compile_seconds)


def _split(flat, layout):
    n = flat.shape[0]
    return {
        name: flat[:, a:b].astype(dtype, copy=False).reshape((n, *shape))
        for name, a, b, shape, dtype in layout
    }


class _Builder:
    """Graphs of one PyMC model, their data inputs, and lazily compiled functions."""

    def __init__(self, pm_model, lift_constants: int):
        pm, pytensor = _import()
        import pytensor.tensor as pt
        from pymc.initial_point import make_initial_point_fn
        from pytensor.compile.sharedvalue import SharedVariable
        from pytensor.graph.basic import Constant
        from pytensor.graph.replace import graph_replace

        try:
            from pytensor.graph.traversal import graph_inputs
        except ImportError:  # PyTensor < 2.32
            from pytensor.graph.basic import graph_inputs
        from pytensor.tensor.type import discrete_dtypes

        self.pm_model = pm_model
        self.name = pm_model.name or "pymc_model"
        free = list(pm_model.free_RVs)
        if not free:
            raise ValueError(
                f"PyMC model {self.name!r} has no free random variables, so there is "
                "nothing to sample; draw from it with pm.sample_prior_predictive or pm.draw"
            )
        discrete = [rv.name for rv in free if rv.type.dtype in discrete_dtypes]
        if discrete:
            raise TypeError(
                f"PyMC model {self.name!r} has discrete free variables: {', '.join(discrete)}. "
                "Every geobayes method (hmc, mala and the other gradient-based methods) "
                "needs a continuous, differentiable target; marginalize them out "
                "(pymc_extras.marginalize) or sample them with pm.sample, whose compound "
                "steps (Metropolis, BinaryGibbsMetropolis, CategoricalGibbsMetropolis) "
                "handle discrete variables"
            )
        value_vars = [pm_model.rvs_to_values[rv] for rv in free]
        point = pm_model.initial_point(random_seed=0)
        shapes = [tuple(int(s) for s in np.shape(point[v.name])) for v in value_vars]
        sizes = [math.prod(s) for s in shapes]
        self.params = {v.name: s for v, s in zip(value_vars, shapes, strict=True)}
        self.value_names = [v.name for v in value_vars]
        dim = sum(sizes)

        # the joint log density, rewritten for stability before the gradient (as nutpie)
        logp = pm_model.logp()
        rewrites = ["canonicalize", "stabilize"]
        if not pm_model.check_bounds:
            rewrites.append("local_remove_check_parameter")
        logp = pytensor.graph.rewrite_graph(logp, include=rewrites)
        grad = pt.concatenate([g.ravel() for g in pt.grad(logp, value_vars)])

        # constrained free variables and deterministics, as pm.sample stores them
        post_rvs = free + list(pm_model.deterministics)
        post = pm_model.replace_rvs_by_values(post_rvs)
        post_shapes = [
            tuple(int(s) for s in np.shape(v)) for v in self._eval(post, value_vars, point)
        ]
        self.posterior_names = [rv.name for rv in post_rvs]
        self.post_layout = _layout(
            self.posterior_names, post_shapes, [rv.type.dtype for rv in post_rvs]
        )
        # pointwise log-likelihood per observed variable (potentials excluded, as PyMC)
        obs = list(pm_model.observed_RVs)
        self.observed_names = [rv.name for rv in obs]
        ll = pm_model.logp(vars=obs, sum=False) if obs else []
        ll_shapes = [tuple(int(s) for s in np.shape(v)) for v in self._eval(ll, value_vars, point)]
        self.ll_layout = _layout(self.observed_names, ll_shapes, ["float64"] * len(obs))

        theta = pt.TensorType("float64", shape=(dim,))("theta")
        replace, i = {}, 0
        for v, shape, size in zip(value_vars, shapes, sizes, strict=True):
            replace[v] = theta[i : i + size].reshape(shape).astype(v.dtype)
            i += size
        graphs = {
            "lpg": [logp, grad],
            "posterior": [_flat(post, pt)],
            "log_likelihood": [_flat(ll, pt)] if ll else [],
        }
        all_outputs = [o for outs in graphs.values() for o in outs]

        observed_values = [pm_model.rvs_to_values[rv] for rv in obs]

        def data_nodes(min_size):
            nodes = []
            for x in graph_inputs(all_outputs):
                if x in replace or x in nodes or not hasattr(x.type, "dtype"):
                    continue
                if isinstance(x, SharedVariable) or any(x is v for v in observed_values):
                    nodes.append(x)
                elif (
                    isinstance(x, Constant)
                    and getattr(x.type, "ndim", 0) >= 1
                    and np.size(x.data) >= min_size
                ):
                    nodes.append(x)
            return nodes

        self._pt = (pytensor, pt, graph_replace)
        self._theta, self._replace, self._graphs = theta, replace, graphs
        self.lift_constants = lift_constants
        self.nodes = data_nodes(lift_constants)
        self._nodes_if_fallback = data_nodes(math.inf)  # shared variables and observed only
        self._prepare_inputs()
        self.shapes = [np.shape(v) for v in self.node_values(check=False)]
        self._compiled: dict[str, object] = {}
        self.jit_fns: dict[str, object] = {}
        self.compile_seconds: dict[str, float] = {}
        self.dim = dim

        self.initial_point_fn = make_initial_point_fn(
            model=pm_model, jitter_rvs=set(free), return_transformed=True
        )
        self.coords, self.dims = _coords_dims(pm_model)
        from pymc.backends.arviz import find_constants, find_observations

        self._find = (find_observations, find_constants)
        self.pm = pm

    @staticmethod
    def _eval(outputs, value_vars, point):
        """Values of ``outputs`` at a point (shapes only; PyTensor's Python linker)."""
        if not outputs:
            return []
        import pytensor

        mode = pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")
        fn = pytensor.function(value_vars, outputs, mode=mode, on_unused_input="ignore")
        return [np.asarray(o) for o in fn(*[point[v.name] for v in value_vars])]

    def _prepare_inputs(self):
        _, pt, graph_replace = self._pt
        self.inputs, self.input_kinds = [], []
        rep = dict(self._replace)
        for k, node in enumerate(self.nodes):
            dtype = node.type.dtype
            is_int = not dtype.startswith(("float", "complex"))
            if dtype.startswith("complex"):
                raise TypeError(f"complex data node {node} is not supported")
            pack = "int64" if is_int else "float64"
            shape = tuple(1 if s == 1 else None for s in node.type.shape)
            inp = pt.TensorType(pack, shape=shape)(f"data{k}")
            self.inputs.append(inp)
            self.input_kinds.append((int(is_int), node.type.ndim))
            rep[node] = inp if pack == dtype else inp.astype(dtype)
        self._graphs_in = {
            kind: graph_replace(outs, rep, strict=False) if outs else []
            for kind, outs in self._graphs.items()
        }
        self.lifted = [str(n.name) if n.name else f"constant{n.type.shape}" for n in self.nodes]

    def node_values(self, updates=None, check=True):
        """Current values of the data nodes (shared values, constants, updated names)."""
        from pytensor.compile.sharedvalue import SharedVariable

        updates = dict(updates or {})
        vals = []
        for node in self.nodes:
            name = node.name
            if name is None:  # observed constants carry no name: use the observed variable's
                for rv in self.pm_model.observed_RVs:
                    if self.pm_model.rvs_to_values[rv] is node:
                        name = rv.name
            if name in updates:
                val = np.asarray(updates.pop(name))
            elif isinstance(node, SharedVariable):
                val = np.asarray(node.get_value(borrow=True))
            else:
                val = np.asarray(node.data)
            if check and val.shape != self.shapes[len(vals)]:
                # the trace layout, dims and coords were derived from the compile-time shapes
                raise ValueError(
                    f"data {name!r} must keep its shape {self.shapes[len(vals)]}, got "
                    f"{val.shape} (with_data cannot change shapes); for new shapes call "
                    "Model.from_pymc(pymc_model) again after pm.set_data (with coords)"
                )
            vals.append(val)
        if updates:
            raise ValueError(
                f"unknown data name(s) {sorted(updates)}; data nodes of this model: "
                f"{[n for n in self.lifted]}"
            )
        return vals

    def pack(self, vals):
        """``(fdata, idata)``: header ``[offset, size, *shape]`` per input, then the blocks."""
        header_len = sum(2 + nd for _, nd in self.input_kinds)
        header, fblocks, iblocks = [], [], []
        f_off, i_off = 0, header_len
        for (is_int, _), val in zip(self.input_kinds, vals, strict=True):
            flat = np.ascontiguousarray(val).ravel()
            if is_int:
                header += [i_off, flat.size, *val.shape]
                iblocks.append(flat.astype(np.int64))
                i_off += flat.size
            else:
                header += [f_off, flat.size, *val.shape]
                fblocks.append(flat.astype(np.float64))
                f_off += flat.size
        fdata = np.concatenate([np.zeros(0), *fblocks]).astype(np.float64)
        idata = np.concatenate([np.array(header, dtype=np.int64), *iblocks]).astype(np.int64)
        return np.ascontiguousarray(fdata), np.ascontiguousarray(idata)

    def function(self, kind):
        """The jitted ``(theta, fdata, idata)`` wrapper of one graph, compiled on first use."""
        if kind in self._compiled:
            return self._compiled[kind]
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with self.pm_model:  # PyMC's rewrites: out-of-support parameters give -inf
                pytensorf = self.pm.pytensorf
                # PyMC >= 5.19 calls it compile, older versions compile_pymc
                compile_fn = getattr(pytensorf, "compile", None) or pytensorf.compile_pymc
                fn = compile_fn(
                    [self._theta, *self.inputs],
                    self._graphs_in[kind],
                    mode="NUMBA",
                    on_unused_input="ignore",
                    trust_input=True,
                )
            wrapper = _make_wrapper(
                "lpg" if kind == "lpg" else "vec", fn.vm.jit_fn, self.input_kinds
            )
            wrapper.compile((LPG_SIG if kind == "lpg" else POINTWISE_SIG).args)
        _raise_on_fallback(caught, self.name)
        self._compiled[kind] = wrapper
        self.jit_fns[kind] = fn.vm.jit_fn  # PyTensor's own function (benchmarks call it bare)
        self.compile_seconds[kind] = time.perf_counter() - t0
        return wrapper

    def bind(self, updates=None, compiled=None):
        """A :class:`PyMCModel` on the current (or updated) data values."""
        fdata, idata = self.pack(self.node_values(updates))
        lpg = self.function("lpg")
        model = PyMCModel(
            lpg,
            self.params,
            name=self.name,
            data=(fdata, idata),
            constrain=self.constrain_fn(fdata, idata),
            initial_point=self.initial_point,
            observed_data=self._observed(updates),
            coords=self.coords,
            dims=self.dims,
            description=f"PyMC model {self.name!r}",
        )
        model.pymc_model = self.pm_model
        model._builder = self
        model.value_names = list(self.value_names)
        model.posterior_names = list(self.posterior_names)
        model.observed_names = list(self.observed_names)
        model._ll_layout = self.ll_layout
        model._ll_size = self.ll_layout[-1][2] if self.ll_layout else 0
        model.constant_data = self._constants(updates)
        model.lifted = list(self.lifted)
        return model

    def _observed(self, updates):
        obs = {k: np.asarray(v) for k, v in self._find[0](self.pm_model).items()}
        for k in list(obs):
            if updates and k in updates:
                obs[k] = np.asarray(updates[k])
        return obs

    def _constants(self, updates):
        const = {k: np.asarray(v) for k, v in self._find[1](self.pm_model).items()}
        for k in list(const):
            if updates and k in updates:
                const[k] = np.asarray(updates[k])
        return const

    def initial_point(self, rng):
        values = self.initial_point_fn(int(rng.integers(2**31 - 1)))
        parts = [np.asarray(values[n], dtype=np.float64).ravel() for n in self.value_names]
        return np.concatenate(parts)

    def constrain_fn(self, fdata, idata):
        def constrain(batch):
            fn = self.function("posterior")
            thetas = np.ascontiguousarray(batch, dtype=np.float64)
            flat = _batch_pointwise(fn, thetas, fdata, idata, self.post_layout[-1][2])
            return _split(flat, self.post_layout)

        return constrain


def _flat(outputs, pt):
    if not outputs:
        return pt.zeros(0)
    return pt.concatenate([pt.cast(o, "float64").ravel() for o in outputs])


def _layout(names, shapes, dtypes):
    out, i = [], 0
    for name, shape, dtype in zip(names, shapes, dtypes, strict=True):
        size = math.prod(shape)
        out.append((name, i, i + size, shape, np.dtype(dtype)))
        i += size
    return out


def _coords_dims(pm_model):
    coords = {}
    for name, vals in pm_model.coords.items():
        if vals is None:
            vals = np.arange(int(pm_model.dim_lengths[name].eval()))
        coords[name] = np.asarray(vals)
    dims = {}
    for name, names in pm_model.named_vars_to_dims.items():
        dims[name] = [d if d is not None else f"{name}_dim_{i}" for i, d in enumerate(names)]
    return coords, dims


def from_pymc(pymc_model, *, lift_constants: int = 16) -> PyMCModel:
    """Compile a PyMC model into a geobayes :class:`Model` (see the module docstring).

    Parameters
    ----------
    pymc_model : pymc.Model
        A model with at least one free random variable, all continuous.
    lift_constants : int
        Constant arrays of at least this many elements are passed as data too (PyMC's
        shared variables and observed values always are).

    Returns
    -------
    PyMCModel
        Parameters are PyMC's value variables (``params``), in the model's order.

    Raises
    ------
    TypeError
        Not a PyMC model; discrete free variables; an op without a Numba implementation.
    ValueError
        No free variables.
    """
    pm, _ = _import()
    if not isinstance(pymc_model, pm.Model):
        raise TypeError(f"pymc_model must be a pymc.Model, got {type(pymc_model).__name__}")
    if isinstance(lift_constants, bool) or not isinstance(lift_constants, (int, np.integer)):
        raise TypeError(f"lift_constants must be an integer, got {lift_constants!r}")
    key = _fingerprint(pymc_model, lift_constants)
    hit = _CACHE.get(pymc_model)
    if hit is not None and hit[0] == key:
        # same graph: reuse the compiled functions, with the data as they are now (after
        # pm.set_data, say), unless a shape changed (the trace layout depends on shapes)
        if [np.shape(v) for v in hit[1].node_values(check=False)] == hit[1].shapes:
            return hit[1].bind()
    builder = _Builder(pymc_model, int(lift_constants))
    try:
        model = builder.bind()
    except TypeError:
        raise
    except Exception:
        if builder.nodes == builder._nodes_if_fallback:
            raise
        # an op needed one of the lifted constants as a constant: keep those in the graph
        builder.nodes = builder._nodes_if_fallback
        builder._prepare_inputs()
        builder.shapes = [np.shape(v) for v in builder.node_values(check=False)]
        builder._compiled.clear()
        model = builder.bind()
    _CACHE[pymc_model] = (key, builder)
    return model


def _fingerprint(pm_model, lift_constants):
    return (
        lift_constants,
        tuple(pm_model.named_vars),
        tuple(id(v) for v in pm_model.named_vars.values()),
    )
