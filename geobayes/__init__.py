"""geobayes: Bayesian sampling and filtering with Numba kernels and ArviZ traces.

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
from geobayes.samplers import HMC, MALA  # noqa: E402
from geobayes.summary import resample, summary  # noqa: E402

__all__ = ["__version__", "sample", "summary", "resample", "Model", "HMC", "MALA", "models"]


def __getattr__(name):
    if name == "models":
        import geobayes.models as models

        return models
    raise AttributeError(f"module 'geobayes' has no attribute {name!r}")
