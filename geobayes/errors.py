"""Exceptions with messages meant for users."""

__all__ = [
    "GeobayesError",
    "InitializationError",
    "InsufficientMemoryError",
    "UnstableQuadratureWarning",
]


class GeobayesError(ValueError):
    """Base class of geobayes errors that report bad input (a ``ValueError``)."""


class InitializationError(GeobayesError):
    """No initial point with a finite log density and gradient was found."""


class InsufficientMemoryError(GeobayesError, MemoryError):
    """A run would need more memory than the machine has; raised before allocating.

    Both a ``ValueError`` (the request is too large) and a ``MemoryError``.
    """


class UnstableQuadratureWarning(UserWarning):
    """A signed quadrature rule (MSIP) ended with weights too wild to trust its moments.

    Raised as a warning after the run (the trace is returned): the rule's negative weights
    carry a large share of its mass, or a weighted variance came out at or below zero.
    """
