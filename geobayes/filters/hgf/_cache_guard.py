"""Drop stale Numba cache files of this package when any of its kernel sources changed.

Numba's on-disk cache checks only the source file *defining* a function, not the files
it calls into: after an edit of ``lambertw.py`` a cached ``_kernels.filter_core`` (or
after an edit of ``_kernels.py`` a cached ``fit.hgf_logdensity_and_grad``) would
silently keep the old machine code.  This module hashes the kernel sources and, when the
hash differs from the one recorded next to the cache, deletes this package's cache
files so that they are rebuilt.  Installed packages never change, so this costs one
hash of ~60 KB at import.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_SOURCES = ("lambertw.py", "_kernels.py", "fit.py")


def check() -> None:
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    h = hashlib.sha1()
    for name in _SOURCES:
        try:
            h.update((here / name).read_bytes())
        except OSError:
            return
    stamp = cache / "numba_sources.sha1"
    digest = h.hexdigest()
    try:
        if stamp.exists() and stamp.read_text().strip() == digest:
            return
        if cache.is_dir():
            for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
                f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # read-only install: nothing to do
        return


check()
