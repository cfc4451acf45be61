"""The loop both sampling families share: threads, chunks, progress bar, Ctrl-C.

A *unit* is one chain (chain methods) or one replicate (particle methods).  The caller
gives ``advance(c, n)``, which runs ``n`` more iterations of unit ``c`` in a jitted kernel
that releases the GIL; :func:`run_units` calls it for every unit on a thread pool, in
chunks sized to about a quarter of a second of wall time, updates the progress bar
between chunks and stops cleanly on Ctrl-C (the running chunks finish so that every
unit's state stays consistent).  Chunk boundaries never change what a unit computes, so
results do not depend on the number of threads or the chunk sizes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["run_units", "check_count"]

_TARGET_CHUNK_SECONDS = 0.25  # wall time of one chunk: responsive progress, negligible overhead


def check_count(name, value, minimum):
    """``value`` as an int >= ``minimum``, or a clear ``TypeError``/``ValueError``."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class _StopOnSigint:
    """Ctrl-C (SIGINT) as a request to stop between chunks, never inside one.

    The default handler raises ``KeyboardInterrupt`` wherever the main thread happens
    to be, possibly between a kernel's return and the bookkeeping that records it, which
    would leave a unit's state and its iteration count out of step (and a resumed run
    no longer identical to an uninterrupted one).  While :func:`run_units` runs, the
    first Ctrl-C only sets a flag that the loop reads after the current chunk; a second
    one restores the default behaviour and interrupts at once.
    """

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:  # second Ctrl-C: the user insists
            raise KeyboardInterrupt
        self.requested = True

    def install(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handler)
            except ValueError:  # pragma: no cover - embedded interpreters
                self._old = None

    def restore(self):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def run_units(
    n_units: int,
    total: int,
    advance: Callable[[int, int], None],
    *,
    cores: int | None,
    progress: bool,
    desc: Callable[[int], str],
    stops: Sequence[int] = (),
    first_chunk: int = 8,
    min_chunk: int = 1,
) -> tuple[int, bool, float]:
    """Advance every unit to ``total`` iterations; returns ``(done, interrupted, seconds)``.

    Parameters
    ----------
    advance : callable ``(unit, n)``
        Runs ``n`` more iterations of ``unit`` (it knows where the unit stands).
    desc : callable ``(done) -> str``
        Progress-bar label after ``done`` iterations (e.g. "hmc warmup" / "hmc").
    stops : iterations a chunk must not straddle (e.g. the end of warmup).
    first_chunk, min_chunk : iterations of the first chunk, and the least of any chunk.

    ``done`` is the number of iterations every unit has completed (an interrupted run may
    leave some units a chunk ahead; the caller keeps the first ``done``).
    """
    unit_done = [0] * n_units
    stop = _StopOnSigint()

    def step(c, n):
        advance(c, n)
        unit_done[c] += n

    n_threads = min(n_units, cores or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else None

    def run_all(n):
        if pool is None:
            for c in range(n_units):
                step(c, n)
            return
        futures = [pool.submit(step, c, n) for c in range(n_units)]
        try:
            wait(futures)
        finally:  # on Ctrl-C, let the running chunks finish so the state stays consistent
            wait(futures)
            for f in futures:
                f.result()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total * n_units, desc=desc(0), unit="it", leave=True, dynamic_ncols=True)
    t0 = time.perf_counter()
    interrupted = False
    done = 0
    chunk = first_chunk
    try:
        stop.install()
        while done < total:
            n = min(chunk, total - done)
            for s in stops:  # chunks never straddle a stop
                if done < s:
                    n = min(n, s - done)
            t_chunk = time.perf_counter()
            try:
                run_all(n)
            except KeyboardInterrupt:
                interrupted = True
            done = min(unit_done)
            elapsed = time.perf_counter() - t_chunk
            if bar is not None:
                bar.update(n * n_units)
                bar.set_description(desc(done), refresh=False)
            if interrupted or (stop.requested and done < total):
                interrupted = True
                break
            rate = n / max(elapsed, 1e-6)
            chunk = int(min(max(min_chunk, rate * _TARGET_CHUNK_SECONDS), 4 * chunk, 100_000))
    except KeyboardInterrupt:
        interrupted = True
        done = min(unit_done)
    finally:
        stop.restore()
        if pool is not None:
            pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
    return done, interrupted, time.perf_counter() - t0
