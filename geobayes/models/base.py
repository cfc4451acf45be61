"""The :class:`Model` a sampler works on.

A model is a log density on an unconstrained space ``theta`` in R^dim, with its
gradient, given as a Numba-jitted function of the type :data:`geobayes.types.LPG`::

    @numba.njit
    def logdensity_and_grad(theta, fdata, idata):
        ...
        return logdensity, gradient      # (float, float64 array of shape (dim,))

``fdata`` (float64) and ``idata`` (int64) carry the model's data, so one compiled
sampler kernel serves every model and every data set.  A function of ``theta``
alone is accepted too and wrapped (that wrapper compiles once per model).

Examples
--------
>>> import numba, numpy as np
>>> import geobayes
>>> @numba.njit
... def lpg(theta):
...     return -0.5 * theta @ theta, -theta
>>> model = geobayes.Model(lpg, params={"x": (3,)}, name="my_gaussian")
>>> model
Model(name='my_gaussian', dim=3, params={'x': (3,)})
>>> lp, grad = model.logdensity_and_grad(np.ones(3))
>>> float(lp)
-1.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numba import float64, int64, njit
from numba.core.dispatcher import Dispatcher
from numba.core.errors import NumbaError

from geobayes._lazy import LazyKernel, lazy_njit
from geobayes.types import LPG_SIG, POINTWISE, POINTWISE_SIG

__all__ = ["Model"]

_EMPTY_F = np.zeros(0, dtype=np.float64)
_EMPTY_I = np.zeros(0, dtype=np.int64)


def _shape_tuple(name: str, shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(
            f"params[{name!r}] must be a shape (a tuple of ints such as () or (8,)), got {shape!r}"
        ) from None
    if any(s < 1 for s in shape):
        raise ValueError(f"params[{name!r}] has a non-positive size in shape {shape}")
    return shape


def _as_lpg(fn, dim: int) -> Dispatcher:
    """Return a dispatcher of type LPG for ``fn`` (3-argument) or a wrapper (1-argument)."""
    if isinstance(fn, LazyKernel):  # geobayes._lazy: an eager signature compiled on first use
        fn = fn.dispatcher
    if not isinstance(fn, Dispatcher):
        raise TypeError(
            "logdensity_and_grad must be a Numba-jitted function (decorate it with @numba.njit), "
            f"got {type(fn).__name__}; it must map theta (float64 array of shape (dim,)) "
            "[, fdata, idata] to (logdensity, gradient)"
        )
    errors = []
    for nargs in (3, 1):
        args = LPG_SIG.args[:nargs]
        try:
            if args not in fn.overloads:  # eager (explicit-signature) dispatchers refuse
                fn.compile(args)  # to compile more; they already hold their signature
            ret = fn.overloads[args].signature.return_type
        except (NumbaError, TypeError, KeyError, RuntimeError) as exc:
            errors.append(f"{nargs} argument(s): {str(exc).splitlines()[0][:200]}")
            continue
        ok = (
            hasattr(ret, "types")
            and len(ret.types) == 2
            and ret.types[0].__class__.__name__ in ("Float", "Integer")
            and getattr(ret.types[1], "ndim", None) == 1
        )
        if not ok:
            raise TypeError(
                "logdensity_and_grad must return (logdensity: float, gradient: 1-D float64 "
                "array), "
                f"but {fn.__name__} returns {ret}"
            )
        if nargs == 3:
            return fn
        return _wrap_theta_only(fn)
    raise TypeError(
        f"logdensity_and_grad {getattr(fn, '__name__', fn)!r} could not be compiled as "
        "f(theta) or f(theta, fdata, idata) with theta a float64 array of shape (dim,): "
        + "; ".join(errors)
    )


def _wrap_theta_only(fn):

    @njit
    def lpg(theta, fdata, idata):
        return fn(theta)

    return lpg


@lazy_njit(float64[:, ::1](POINTWISE, float64[:, ::1], float64[::1], int64[::1], int64), cache=True)
def _batch_pointwise(fn, thetas, fdata, idata, n_obs):
    out = np.empty((thetas.shape[0], n_obs))
    for k in range(thetas.shape[0]):
        out[k, :] = fn(thetas[k], fdata, idata)
    return out


def _as_pointwise(fn):
    if fn is None:
        return None
    if isinstance(fn, LazyKernel):
        fn = fn.dispatcher
    if not isinstance(fn, Dispatcher):
        raise TypeError(
            "pointwise_loglik must be a Numba-jitted function g(theta, fdata, idata) -> "
            f"1-D float64 array, got {type(fn).__name__}"
        )
    try:
        if POINTWISE_SIG.args not in fn.overloads:
            fn.compile(POINTWISE_SIG.args)
    except (NumbaError, TypeError, RuntimeError) as exc:
        raise TypeError(
            "pointwise_loglik must compile as g(theta, fdata, idata) -> 1-D float64 array: "
            + str(exc).splitlines()[0][:200]
        ) from None
    return fn


class Model:
    """A target density for the samplers.

    Parameters
    ----------
    logdensity_and_grad : numba-jitted function
        ``f(theta, fdata, idata) -> (logdensity, gradient)`` or ``f(theta) -> (...)``: the
        unnormalized log posterior on the unconstrained space (log-Jacobians included)
        and its gradient, a float64 array of shape ``(dim,)``.
    params : mapping of str to tuple
        Ordered names and shapes of the parameters; their sizes add up to ``dim``.
        ``theta`` is the concatenation of the flattened unconstrained parameters.
    name : str
        Short identifier.
    data : tuple of (ndarray, ndarray), optional
        ``(fdata, idata)``, the float64 and int64 data arrays passed to the function.
    constrain : callable, optional
        ``constrain(theta_batch)`` with ``theta_batch`` of shape ``(n, dim)`` returning a dict
        ``name -> array of shape (n, *shape)`` of constrained (and derived) quantities for
        the trace.  Default: split ``theta`` by ``params``.
    initial_point : callable, optional
        ``initial_point(rng) -> ndarray (dim,)``.  Default: uniform(-2, 2), as Stan does.
    observed_data : dict, optional
        Arrays copied into the trace's ``observed_data`` group.
    pointwise_loglik : numba-jitted function, optional
        ``g(theta, fdata, idata) -> ndarray (n_obs,)``; traces then get a ``log_likelihood``
        group (named ``loglik_name``) so that ``arviz.loo`` works.
    loglik_name : str
        Variable name of the pointwise log-likelihood (default ``"y"``).
    coords, dims : dict, optional
        ArviZ coordinate values and dimension names of the constrained quantities.
    description : str
        One line shown by ``geobayes models``.
    """

    def __init__(
        self,
        logdensity_and_grad,
        params: Mapping[str, Any],
        *,
        name: str = "custom",
        data: tuple[np.ndarray, np.ndarray] | None = None,
        constrain: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
        initial_point: Callable[[np.random.Generator], np.ndarray] | None = None,
        observed_data: Mapping[str, Any] | None = None,
        pointwise_loglik=None,
        loglik_name: str = "y",
        coords: Mapping[str, Any] | None = None,
        dims: Mapping[str, list[str]] | None = None,
        description: str = "",
    ):
        if not isinstance(params, Mapping) or not params:
            raise TypeError("params must be a non-empty mapping name -> shape, e.g. {'x': (3,)}")
        self.params = {str(k): _shape_tuple(str(k), v) for k, v in params.items()}
        self.dim = int(sum(math.prod(s) for s in self.params.values()))
        self.name = str(name)
        if data is None:
            fdata, idata = _EMPTY_F, _EMPTY_I
        else:
            try:
                fdata, idata = data
            except (TypeError, ValueError):
                raise TypeError("data must be a pair (fdata, idata) of 1-D arrays") from None
            fdata = np.ascontiguousarray(np.asarray(fdata, dtype=np.float64).ravel())
            idata = np.asarray(idata)
            if idata.size and not np.issubdtype(idata.dtype, np.integer):
                raise TypeError(f"idata must hold integers, got dtype {idata.dtype}")
            idata = np.ascontiguousarray(idata.astype(np.int64).ravel())
        self.fdata, self.idata = fdata, idata
        self._lpg = _as_lpg(logdensity_and_grad, self.dim)
        self._constrain = constrain
        self._initial_point = initial_point
        self.observed_data = dict(observed_data) if observed_data else {}
        self.pointwise_loglik = _as_pointwise(pointwise_loglik)
        self.loglik_name = loglik_name
        self.coords = dict(coords) if coords else {}
        self.dims = dict(dims) if dims else {}
        self.description = description

    @classmethod
    def from_pymc(cls, pymc_model, **kwargs) -> Model:
        """Compile a PyMC model (``pip install 'geobayes[pymc]'``).

        See :func:`geobayes.models.from_pymc.from_pymc`: the joint log density on PyMC's
        value variables and its gradient, compiled by PyTensor's Numba backend; traces
        carry PyMC's names, dims, coords, deterministics and data groups.
        """
        from geobayes.models.from_pymc import from_pymc

        return from_pymc(pymc_model, **kwargs)

    # -- evaluation -------------------------------------------------------------------------
    @property
    def lpg(self):
        """The jitted ``logdensity_and_grad(theta, fdata, idata)`` handed to kernels."""
        return self._lpg

    def check_theta(self, theta) -> np.ndarray:
        """Return ``theta`` as a C-contiguous float64 vector of length ``dim`` or raise."""
        arr = np.asarray(theta)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"theta must be a real array, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        if arr.shape != (self.dim,):
            raise ValueError(
                f"theta must have shape ({self.dim},) for model {self.name!r}, got {arr.shape}"
            )
        return arr

    def logdensity_and_grad(self, theta) -> tuple[float, np.ndarray]:
        """Evaluate the log density and gradient at one unconstrained point."""
        theta = self.check_theta(theta)
        lp, grad = self._lpg(theta, self.fdata, self.idata)
        grad = np.asarray(grad)
        if grad.shape != (self.dim,):
            raise ValueError(
                f"model {self.name!r}: logdensity_and_grad returned a gradient of shape "
                f"{grad.shape}, expected ({self.dim},)"
            )
        return float(lp), grad

    def logdensity(self, theta) -> float:
        """The log density at one unconstrained point."""
        return self.logdensity_and_grad(theta)[0]

    def loss_and_grad(self, theta) -> tuple[float, np.ndarray]:
        """``(-logdensity, -gradient)``: the loss view used by loss-based samplers."""
        lp, g = self.logdensity_and_grad(theta)
        return -lp, -g

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        """A starting point: the model's own rule, or uniform(-2, 2) on the unconstrained space."""
        if self._initial_point is not None:
            return self.check_theta(self._initial_point(rng))
        return rng.uniform(-2.0, 2.0, size=self.dim)

    def split(self, theta_batch: np.ndarray) -> dict[str, np.ndarray]:
        """Split unconstrained vectors ``(n, dim)`` into named arrays ``(n, *shape)``."""
        out, i = {}, 0
        n = theta_batch.shape[0]
        for name, shape in self.params.items():
            size = math.prod(shape)
            out[name] = theta_batch[:, i : i + size].reshape((n, *shape))
            i += size
        return out

    def constrain(self, theta_batch) -> dict[str, np.ndarray]:
        """Constrained (and derived) quantities for a batch ``(n, dim)`` (or one vector)."""
        theta_batch = np.asarray(theta_batch, dtype=np.float64)
        single = theta_batch.ndim == 1
        batch = np.atleast_2d(theta_batch)
        out = self._constrain(batch) if self._constrain is not None else self.split(batch)
        if single:
            out = {k: v[0] for k, v in out.items()}
        return out

    def loglik(self, theta_batch: np.ndarray) -> np.ndarray | None:
        """Pointwise log-likelihood for a batch ``(n, dim)``, or None without one."""
        if self.pointwise_loglik is None:
            return None
        thetas = np.ascontiguousarray(theta_batch, dtype=np.float64)
        if thetas.shape[0] == 0:
            return np.zeros((0, 0))
        n_obs = np.asarray(self.pointwise_loglik(thetas[0], self.fdata, self.idata)).shape[0]
        return _batch_pointwise(self.pointwise_loglik, thetas, self.fdata, self.idata, n_obs)

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, dim={self.dim}, params={self.params})"
