"""Memory estimates checked before a run allocates anything.

A run whose arrays cannot fit is refused up front with one line that says how much it
needs, how much the machine has available and what to reduce, instead of being killed by
the operating system halfway (or failing with NumPy's ``ArrayMemoryError`` traceback).
The estimates count the arrays a run keeps (draws, statistics, stored ensembles, the
trace built from them) and its working set; :func:`require` compares them with the
memory available now (``MemAvailable`` of ``/proc/meminfo`` on Linux, else the
physical memory).
"""

from __future__ import annotations

import os

from geobayes.errors import InsufficientMemoryError

__all__ = ["available_bytes", "require", "format_bytes", "FLOAT"]

FLOAT = 8  # bytes of a float64
#: A run may plan to use at most this fraction of the memory available when it starts.
USABLE_FRACTION = 0.8


def available_bytes() -> int:
    """Memory available to a new allocation now, in bytes (best effort)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 2**62


def format_bytes(n: float) -> str:
    """``1.5e9`` -> ``'1.4 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def require(nbytes: float, what: str, reduce: str) -> None:
    """Raise :class:`InsufficientMemoryError` when ``nbytes`` will not fit.

    Parameters
    ----------
    nbytes : float
        Estimated peak memory of the run.
    what : str
        What the run is, e.g. ``"sampling 4 chains x 1000 draws of 10 parameters"``.
    reduce : str
        What the user can reduce, e.g. ``"fewer draws or chains, or thin"``.
    """
    avail = available_bytes()
    if nbytes > USABLE_FRACTION * avail:
        raise InsufficientMemoryError(
            f"{what} needs about {format_bytes(nbytes)} of memory, but this machine has "
            f"{format_bytes(avail)} available; {reduce}"
        )
