"""Exceptions with messages meant for users."""

__all__ = ["GeobayesError", "InitializationError"]


class GeobayesError(ValueError):
    """Base class of geobayes errors that report bad input (a ``ValueError``)."""


class InitializationError(GeobayesError):
    """No initial point with a finite log density and gradient was found."""
