"""Registry of built-in models: ``geobayes.models.get(name, **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable

from geobayes.models.base import Model
from geobayes.models.eight_schools import eight_schools
from geobayes.models.gaussian import correlated_gaussian, gaussian
from geobayes.models.logistic import logistic_regression
from geobayes.models.loss_surfaces import flat_valley, hyperbola, ring
from geobayes.models.mixture import mixture_2d, mixture_10d
from geobayes.models.posteriordb import POSTERIORDB_MODELS
from geobayes.models.shapes import banana, double_well, funnel

__all__ = ["get", "available", "REGISTRY"]

#: name -> (factory, one-line description)
REGISTRY: dict[str, tuple[Callable[..., Model], str]] = {
    "gaussian": (gaussian, "standard Gaussian N(0, I); dim=10"),
    "correlated_gaussian": (
        correlated_gaussian,
        "correlated Gaussian; dim=10, condition_number=1e4, seed=0",
    ),
    "banana": (banana, "Rosenbrock banana (hybrid Rosenbrock), 2-D; a=0.05, b=5, mu=1"),
    "funnel": (funnel, "Neal's funnel; dim=10, scale=3"),
    "mixture_2d": (mixture_2d, "2-D Gaussian mixture, separated modes, weights 0.7/0.3"),
    "mixture_10d": (mixture_10d, "10-D Gaussian mixture, separated modes, weights 0.7/0.3"),
    "double_well": (double_well, "double well; dim=2, barrier=4 nats"),
    "eight_schools": (eight_schools, "eight schools, non-centered (alias)"),
    "eight_schools_noncentered": (eight_schools, "eight schools, non-centered"),
    "eight_schools_centered": (
        lambda **kw: eight_schools(centered=True, **kw),
        "eight schools, centered",
    ),
    "ring": (ring, "loss: ring of minima |theta| = 1 (for method='dims'); dim=2, radius=1"),
    "hyperbola": (
        hyperbola,
        "loss: hyperbola of minima a b = 1, L = (a b - 1)^2 (for method='dims')",
    ),
    "flat_valley": (
        flat_valley,
        "loss: flat valley L = |theta_{flat:}|^2 / 2 (for method='dims'); dim=2, flat=1",
    ),
    "logistic_regression": (
        logistic_regression,
        "Bayesian logistic regression on synthetic data; n=1000, dim=5, seed=0",
    ),
    "eight_schools-eight_schools_noncentered": (
        eight_schools,
        "posteriordb: eight schools, non-centered (reference draws in ../shared)",
    ),
}

_POSTERIORDB_TEXT = {
    "arK-arK": "AR(5) time series, T=200; dim=7",
    "garch-garch11": "GARCH(1,1) volatility, beta1 < 1 - alpha1; dim=4",
    "gp_pois_regr-gp_pois_regr": "latent GP, Poisson counts, N=11; dim=13",
    "kidiq-kidscore_interaction": "regression with interaction, N=434; dim=5",
    "kilpisjarvi_mod-kilpisjarvi": "linear trend, corr(alpha, beta) ~ -1, N=62; dim=3",
    "low_dim_gauss_mix-low_dim_gauss_mix": "2-component mixture, ordered means, N=1000; dim=5",
    "sblrc-blr": "linear regression, correlated coefficients, N=100; dim=6",
}
for _name, (_factory, _alias) in POSTERIORDB_MODELS.items():
    REGISTRY[_name] = (_factory, "posteriordb: " + _POSTERIORDB_TEXT[_name])
    REGISTRY[_alias] = (_factory, f"{_POSTERIORDB_TEXT[_name]} (alias of {_name})")


def available() -> list[str]:
    """Names of the built-in models."""
    return sorted(REGISTRY)


def _check_kinds(name, factory, kwargs) -> None:
    """A ``TypeError`` naming the argument when a number is expected and something else given.

    The kind expected is the kind of the factory's default (``dim=10``: an integer).
    """
    import inspect
    import numbers

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    for key, value in kwargs.items():
        default = params[key].default if key in params else inspect.Parameter.empty
        if isinstance(default, bool) or not isinstance(default, numbers.Real):
            continue
        integral = isinstance(default, numbers.Integral)
        kind = numbers.Integral if integral else numbers.Real
        if isinstance(value, (bool, str)) or not isinstance(value, kind):
            raise TypeError(
                f"model {name!r}: {key} must be {'an integer' if integral else 'a number'}, "
                f"got {value!r}"
            )


def get(name: str, **kwargs) -> Model:
    """Build a built-in model by name, passing ``kwargs`` to its constructor.

    Examples
    --------
    >>> from geobayes.models import get
    >>> get("gaussian", dim=3)
    Model(name='gaussian', dim=3, params={'x': (3,)})
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available())}")
    factory = REGISTRY[name][0]
    _check_kinds(name, factory, kwargs)
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise TypeError(f"bad arguments for model {name!r}: {exc}") from None
