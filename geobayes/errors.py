"""Exceptions with messages meant for users."""

__all__ = ["GeobayesError", "InitializationError", "InsufficientMemoryError"]


class GeobayesError(ValueError):
    """Base class of geobayes errors that report bad input (a ``ValueError``)."""


class InitializationError(GeobayesError):
    """No initial point with a finite log density and gradient was found."""


class InsufficientMemoryError(GeobayesError, MemoryError):
    """A run would need more memory than the machine has; raised before allocating.

    Both a ``ValueError`` (the request is too large) and a ``MemoryError``.
    """
