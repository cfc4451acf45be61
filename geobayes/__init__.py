"""geobayes: Bayesian sampling and filtering with Numba kernels and ArviZ traces.

``geobayes.sample(model, method=...)`` draws from a posterior, ``geobayes.filter(ssm,
observations, method=...)`` runs a filter (Kalman, EnKF, ETKF, LETKF, particle filter,
or an HGF network); both return an ArviZ ``DataTree``.

Examples
--------
>>> import geobayes
>>> trace = geobayes.sample("eight_schools", method="hmc", draws=200, chains=2, seed=0,
...                         progress=False)
>>> float(trace.posterior["mu"].mean()) > 0
True
"""

__version__ = "0.1.0"

from geobayes import _cache_guard  # noqa: E402, F401  (before any kernel is loaded)
from geobayes.driver import sample  # noqa: E402
from geobayes.models import Model  # noqa: E402
from geobayes.predictive import predict, predictive_interval, predictive_mean  # noqa: E402
from geobayes.samplers import DIMS, HMC, MALA, NUTS  # noqa: E402
from geobayes.summary import resample, summary  # noqa: E402

__all__ = [
    "__version__",
    "sample",
    "filter",
    "filtering",
    "summary",
    "resample",
    "Model",
    "HMC",
    "MALA",
    "NUTS",
    "DIMS",
    "predict",
    "predictive_mean",
    "predictive_interval",
    "models",
    "filters",
    "hgf",
]


def __getattr__(name):
    # filters and the HGF load on first use, so that `import geobayes` stays fast
    import importlib

    if name == "models":
        return importlib.import_module("geobayes.models")
    if name == "filters":
        return importlib.import_module("geobayes.filters")
    if name == "hgf":
        return importlib.import_module("geobayes.filters.hgf")
    if name in ("filter", "filtering"):
        return getattr(importlib.import_module("geobayes.filters"), name)
    raise AttributeError(f"module 'geobayes' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
