r"""A small multilayer perceptron for regression or classification, as jitted code.

Network: ``tanh`` hidden layers and a linear output layer,
``f(x; theta) = W_L tanh(... tanh(W_1 x + b_1) ...) + b_L``; ``theta`` stacks each layer's
weight matrix (row-major, shape ``(out, in)``) followed by its bias.  Loss (the negative
log density of the model)::

    L(theta) = sum_i |f(x_i; theta) - y_i|^2 / (2 noise_std^2) + prior_precision |theta|^2 / 2

With ``prior_precision = 0`` (default) this is the pure training loss whose minimum sets
(``L_min = 0`` when the network interpolates the data) DIMS samples; with
``prior_precision > 0`` it is the negative log posterior of a Bayesian network with a
Gaussian likelihood and an isotropic Gaussian prior (for HMC or a Laplace approximation).
The gradient is by back-propagation and is checked against finite differences in the
tests.

Classification (:func:`mlp_classification`) replaces the squared error by the
cross-entropy of the labels: with ``C > 2`` classes the network has ``C`` outputs (logits)
and ``L = sum_i [logsumexp(f(x_i)) - f_{y_i}(x_i)] + prior_precision |theta|^2 / 2``
(softmax); with two classes it has one output and the logistic loss
``sum_i [log(1 + exp(f(x_i))) - y_i f(x_i)]``.  Separable data have no finite minimizer of
the pure cross-entropy (the loss decreases toward 0 as the weights grow), so
classification usually takes ``prior_precision > 0``.

The model object (:class:`MLPRegression`) adds :meth:`~MLPRegression.predict` (network
outputs of a batch of parameter vectors at new inputs) and the training inputs, so the
trace gets a ``posterior_predictive`` group (network outputs at the training inputs) and
:func:`geobayes.predictive.predict` can add ``predictions`` at new inputs.

Examples
--------
>>> import numpy as np
>>> from geobayes.models.mlp import mlp_regression
>>> x = np.linspace(-1, 1, 5)[:, None]
>>> m = mlp_regression(x, np.sin(3 * x), hidden=(8,))
>>> m.dim  # (1*8 + 8) + (8*1 + 1)
25
>>> m.predict(np.zeros((2, m.dim)), x).shape
(2, 5, 1)
"""

from __future__ import annotations

import math

import numpy as np
from numba import float64, int64, njit

from geobayes._lazy import lazy_njit
from geobayes.models.base import Model

__all__ = [
    "MLPClassification",
    "MLPRegression",
    "mlp_classification",
    "mlp_regression",
    "mlp_forward",
    "mlp_lpg",
]

# idata layout: [n, n_layers, size_0 (= n_inputs), size_1, ..., size_L (= n_outputs), kind]
# kind (optional, default 0): 0 squared error, 1 cross-entropy (softmax, or logistic with
# one output; y holds one-hot rows, or 0/1 with one output)
# fdata layout: [noise_std, prior_precision, x (n * n_inputs), y (n * n_outputs)]


@lazy_njit(float64[:, ::1](float64[::1], float64[:, ::1], int64[::1]), cache=True)
def mlp_forward(theta, x, sizes):
    """Network outputs ``(m, n_outputs)`` at inputs ``x`` ``(m, n_inputs)``; ``sizes`` per layer."""
    m = x.shape[0]
    n_layers = sizes.shape[0] - 1
    a = x.copy()
    off = 0
    for layer in range(n_layers):
        nin = sizes[layer]
        nout = sizes[layer + 1]
        z = np.empty((m, nout))
        for k in range(m):
            for j in range(nout):
                s = theta[off + nin * nout + j]
                base = off + j * nin
                for i in range(nin):
                    s += theta[base + i] * a[k, i]
                z[k, j] = math.tanh(s) if layer < n_layers - 1 else s
        off += nin * nout + nout
        a = z
    return a


@njit(cache=True)
def mlp_lpg(theta, fdata, idata):
    """Negative loss and its gradient (back-propagation); layouts in the module source."""
    n = idata[0]
    n_layers = idata[1]
    sizes = idata[2 : 3 + n_layers]
    nin0 = sizes[0]
    nout_last = sizes[n_layers]
    kind = idata[3 + n_layers] if idata.shape[0] > 3 + n_layers else 0
    inv_var = 1.0 / (fdata[0] * fdata[0])
    alpha = fdata[1]
    xs = fdata[2 : 2 + n * nin0]
    ys = fdata[2 + n * nin0 : 2 + n * nin0 + n * nout_last]
    d = theta.shape[0]
    grad = np.zeros(d)
    # layer offsets and the widest layer
    offs = np.empty(n_layers, dtype=np.int64)
    off = 0
    width = 0
    for layer in range(n_layers):
        offs[layer] = off
        off += sizes[layer] * sizes[layer + 1] + sizes[layer + 1]
    for layer in range(n_layers + 1):
        width = max(width, sizes[layer])
    acts = np.empty((n_layers + 1, width))  # activations of one data point, per layer
    delta = np.empty(width)
    delta_prev = np.empty(width)
    loss = 0.0
    for k in range(n):
        for i in range(nin0):
            acts[0, i] = xs[k * nin0 + i]
        for layer in range(n_layers):
            nin = sizes[layer]
            nout = sizes[layer + 1]
            o = offs[layer]
            for j in range(nout):
                s = theta[o + nin * nout + j]
                for i in range(nin):
                    s += theta[o + j * nin + i] * acts[layer, i]
                acts[layer + 1, j] = math.tanh(s) if layer < n_layers - 1 else s
        if kind == 0:
            for j in range(nout_last):
                r = acts[n_layers, j] - ys[k * nout_last + j]
                loss += 0.5 * inv_var * r * r
                delta[j] = inv_var * r
        elif nout_last == 1:  # logistic: softplus(z) - y z, gradient sigmoid(z) - y
            z = acts[n_layers, 0]
            yk = ys[k]
            if z > 0.0:
                e = math.exp(-z)
                loss += z + math.log1p(e) - yk * z
                delta[0] = 1.0 / (1.0 + e) - yk
            else:
                e = math.exp(z)
                loss += math.log1p(e) - yk * z
                delta[0] = e / (1.0 + e) - yk
        else:  # softmax cross-entropy: logsumexp(z) - y.z, gradient softmax(z) - y
            zmax = acts[n_layers, 0]
            for j in range(1, nout_last):
                zmax = max(zmax, acts[n_layers, j])
            tot = 0.0
            for j in range(nout_last):
                delta[j] = math.exp(acts[n_layers, j] - zmax)
                tot += delta[j]
            lse = zmax + math.log(tot)
            for j in range(nout_last):
                yj = ys[k * nout_last + j]
                loss += yj * (lse - acts[n_layers, j])
                delta[j] = delta[j] / tot - yj
        for layer in range(n_layers - 1, -1, -1):
            nin = sizes[layer]
            nout = sizes[layer + 1]
            o = offs[layer]
            for j in range(nout):
                grad[o + nin * nout + j] += delta[j]
                for i in range(nin):
                    grad[o + j * nin + i] += delta[j] * acts[layer, i]
            if layer > 0:
                for i in range(nin):
                    s = 0.0
                    for j in range(nout):
                        s += theta[o + j * nin + i] * delta[j]
                    ai = acts[layer, i]
                    delta_prev[i] = s * (1.0 - ai * ai)
                for i in range(nin):
                    delta[i] = delta_prev[i]
    if alpha != 0.0:
        for i in range(d):
            loss += 0.5 * alpha * theta[i] * theta[i]
            grad[i] += alpha * theta[i]
    for i in range(d):
        grad[i] = -grad[i]
    return -loss, grad


class MLPRegression(Model):
    """:class:`~geobayes.models.Model` of an MLP regression, with :meth:`predict`.

    Attributes
    ----------
    x_train, y_train : ndarray of shape (n, n_inputs), (n, n_outputs)
    sizes : ndarray of int64
        Layer widths, inputs first.
    noise_std, prior_precision : float
    """

    def predict(self, theta_batch, x_new) -> np.ndarray:
        """Network outputs ``(n_draws, m, n_outputs)`` of each parameter vector at ``x_new``.

        ``theta_batch`` has shape ``(n_draws, dim)`` (or ``(dim,)``); ``x_new`` shape
        ``(m, n_inputs)`` (or ``(m,)`` with one input).
        """
        th = np.atleast_2d(np.asarray(theta_batch, dtype=np.float64))
        if th.shape[1] != self.dim:
            raise ValueError(f"theta_batch must have {self.dim} columns, got shape {th.shape}")
        x = _as_inputs(x_new, int(self.sizes[0]), "x_new")
        out = np.empty((th.shape[0], x.shape[0], int(self.sizes[-1])))
        for k in range(th.shape[0]):
            out[k] = mlp_forward(np.ascontiguousarray(th[k]), x, self.sizes)
        return out

    def posterior_predictive(self, theta_batch) -> dict[str, np.ndarray]:
        """Network outputs at the training inputs, for the trace's ``posterior_predictive``."""
        return {"y": self.predict(theta_batch, self.x_train)}

    def initial_point(self, rng):
        """Glorot-uniform weights and zero biases (the model's default start)."""
        out = np.zeros(self.dim)
        off = 0
        for nin, nout in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            lim = math.sqrt(6.0 / (nin + nout))
            out[off : off + nin * nout] = rng.uniform(-lim, lim, size=nin * nout)
            off += nin * nout + nout
        return out


class MLPClassification(MLPRegression):
    """:class:`MLPRegression` with the cross-entropy loss: :meth:`predict` gives logits.

    Attributes
    ----------
    n_classes : int
        Number of classes (one logistic output when 2, else one logit per class).
    """

    def predict_proba(self, theta_batch, x_new) -> np.ndarray:
        """Class probabilities ``(n_draws, m, n_classes)`` of each parameter vector."""
        z = self.predict(theta_batch, x_new)
        if z.shape[-1] == 1:
            p1 = 0.5 * (1.0 + np.tanh(0.5 * z[..., 0]))  # sigmoid without overflow
            return np.stack([1.0 - p1, p1], axis=-1)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def posterior_predictive(self, theta_batch) -> dict[str, np.ndarray]:
        """Class probabilities at the training inputs, for the ``posterior_predictive``."""
        return {"p": self.predict_proba(theta_batch, self.x_train)}


def _as_inputs(x, n_inputs, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and n_inputs == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_inputs:
        raise ValueError(f"{name} must have shape (n, {n_inputs}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return np.ascontiguousarray(x)


def mlp_regression(
    x,
    y,
    hidden=(16,),
    *,
    noise_std: float = 1.0,
    prior_precision: float = 0.0,
    name: str = "mlp_regression",
) -> MLPRegression:
    """MLP regression model (``tanh`` hidden layers, linear output, squared-error loss).

    Parameters
    ----------
    x : array of shape (n, n_inputs) or (n,)
        Training inputs.
    y : array of shape (n, n_outputs) or (n,)
        Training targets.
    hidden : int or tuple of int
        Widths of the hidden layers.
    noise_std : float
        Scale of the squared error (``> 0``): the loss is ``|residual|^2 / (2 noise_std^2)``.
    prior_precision : float
        Weight decay / Gaussian prior precision (``>= 0``; 0 = pure training loss).

    Returns
    -------
    MLPRegression
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = _as_inputs(x, x.shape[1] if x.ndim == 2 else 0, "x")
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y must have shape ({x.shape[0]},) or ({x.shape[0]}, n_outputs), got {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    if isinstance(hidden, (int, np.integer)):
        hidden = (int(hidden),)
    hidden = tuple(hidden)
    if not hidden or any(
        isinstance(h, bool) or not isinstance(h, (int, np.integer)) or h < 1 for h in hidden
    ):
        raise ValueError(
            f"hidden must be a positive int or a tuple of positive ints, got {hidden!r}"
        )
    if not (np.isfinite(noise_std) and noise_std > 0):
        raise ValueError(f"noise_std must be a positive finite number, got {noise_std}")
    if not (np.isfinite(prior_precision) and prior_precision >= 0):
        raise ValueError(f"prior_precision must be a finite number >= 0, got {prior_precision}")
    sizes = np.array([x.shape[1], *hidden, y.shape[1]], dtype=np.int64)
    n_layers = len(sizes) - 1
    fdata = np.concatenate([[float(noise_std), float(prior_precision)], x.ravel(), y.ravel()])
    idata = np.concatenate([[x.shape[0], n_layers], sizes]).astype(np.int64)
    params = {}
    for layer in range(n_layers):
        params[f"w{layer + 1}"] = (int(sizes[layer + 1]), int(sizes[layer]))
        params[f"b{layer + 1}"] = (int(sizes[layer + 1]),)
    m = MLPRegression(
        mlp_lpg,
        params,
        name=name,
        data=(fdata, idata),
        observed_data={"y": y},
        description=f"MLP regression {'-'.join(str(s) for s in sizes)} (tanh), n={x.shape[0]}",
    )
    m.x_train, m.y_train, m.sizes = x, y, sizes
    m.noise_std, m.prior_precision = float(noise_std), float(prior_precision)
    m.minimum_loss = 0.0 if prior_precision == 0 else float("nan")
    return m


def mlp_classification(
    x,
    labels,
    hidden=(16,),
    *,
    n_classes: int | None = None,
    prior_precision: float = 0.0,
    name: str = "mlp_classification",
) -> MLPClassification:
    """MLP classification model (``tanh`` hidden layers, cross-entropy loss).

    Parameters
    ----------
    x : array of shape (n, n_inputs) or (n,)
        Training inputs.
    labels : array of int of shape (n,)
        Class labels ``0, ..., n_classes - 1``.
    hidden : int or tuple of int
        Widths of the hidden layers.
    n_classes : int, optional
        Number of classes (default ``max(labels) + 1``, at least 2).  Two classes use one
        logistic output, more use one softmax logit per class.
    prior_precision : float
        Weight decay / Gaussian prior precision (``>= 0``).

    Returns
    -------
    MLPClassification

    Examples
    --------
    >>> import numpy as np
    >>> from geobayes.models.mlp import mlp_classification
    >>> x = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> m = mlp_classification(x, [0, 1, 1], hidden=(4,), prior_precision=1.0)
    >>> m.dim, m.predict_proba(np.zeros(m.dim), x)[0, 0].tolist()
    (17, [0.5, 0.5])
    """
    lab = np.asarray(labels)
    if lab.ndim != 1 or not (
        np.issubdtype(lab.dtype, np.integer)
        or (np.issubdtype(lab.dtype, np.floating) and np.all(lab == np.round(lab)))
    ):
        raise TypeError("labels must be a 1-D array of integer class labels")
    lab = lab.astype(np.int64)
    if lab.size and lab.min() < 0:
        raise ValueError("labels must be >= 0")
    k = max(int(lab.max()) + 1 if lab.size else 2, 2) if n_classes is None else n_classes
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    if lab.size and lab.max() >= k:
        raise ValueError(f"labels must be < n_classes = {k}, got max {lab.max()}")
    y = lab[:, None].astype(np.float64) if k == 2 else np.eye(k)[lab]
    base = mlp_regression(x, y, hidden, prior_precision=prior_precision, name=name)
    m = MLPClassification(
        mlp_lpg,
        {p: s for p, s in base.params.items()},
        name=name,
        data=(base.fdata, np.concatenate([base.idata, [1]]).astype(np.int64)),
        observed_data={"labels": lab},
        description=base.description.replace("regression", "classification")
        + f", {k} classes (cross-entropy)",
    )
    m.x_train, m.y_train, m.sizes, m.labels = base.x_train, y, base.sizes, lab
    m.noise_std, m.prior_precision, m.n_classes = 1.0, float(prior_precision), int(k)
    m.minimum_loss = float("nan")
    return m
