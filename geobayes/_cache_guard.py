"""Drop stale Numba cache files when any geobayes source file changed.

Numba's on-disk cache checks only the source file that *defines* a function, not the
files it calls into: after an edit of ``adaptation/step_size.py`` a cached
``samplers/_chunk.run_chunk`` would silently keep the old machine code.  At import this
module hashes the package's Python sources and, when the hash differs from the one
recorded beside the cache, deletes the package's cache files (``*.nbi``/``*.nbc`` in its
``__pycache__`` folders) so that they are rebuilt.  An installed package never changes,
so this costs one hash of a few hundred KB per import (about a millisecond).  With
``NUMBA_CACHE_DIR`` set, Numba keeps its files elsewhere and this guard does nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["check"]


def check() -> None:
    """Delete the package's Numba cache files if its sources changed since they were written."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    root = Path(__file__).resolve().parent
    sources = sorted(root.rglob("*.py"))
    h = hashlib.sha1()
    try:
        for path in sources:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    except OSError:
        return
    digest = h.hexdigest()
    stamp = root / "__pycache__" / "numba_sources.sha1"
    try:
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        for cache in root.rglob("__pycache__"):
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                f.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # read-only install: Numba caches elsewhere, nothing to do
        return


check()
