"""geobayes: Bayesian sampling and filtering with Numba kernels and ArviZ traces."""

__version__ = "0.1.0"
