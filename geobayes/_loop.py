"""The loop both sampling families share: threads, chunks, progress bar, Ctrl-C.

A *unit* is one chain (chain methods) or one replicate (particle methods).  The caller
gives ``advance(c, n)``, which runs ``n`` more iterations of unit ``c`` in a jitted kernel
that releases the GIL; :func:`run_units` calls it for every unit on a thread pool, in
chunks sized to about a quarter of a second of wall time, updates the progress bar
between chunks and stops cleanly on Ctrl-C (the running chunks finish and the units
behind catch up with the one furthest ahead, so that every unit's state stays consistent
and all stop at the same iteration).  On the pool there is no barrier between rounds: a
unit's next chunk is queued as soon as its last one ends (first in, first out), so a
thread never idles while another finishes a slower chunk (with 4 NUTS chains on 2
threads a barrier per round left 4-9 % of the thread time idle).  Chunk boundaries never
change what a unit computes, so results do not depend on the number of threads or the
chunk sizes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

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

    ``done`` is the number of iterations every unit has completed; after an interruption
    the units behind have caught up with the one furthest ahead, so all stand at ``done``.
    """
    unit_done = [0] * n_units
    stop = _StopOnSigint()

    def step(c, n):
        advance(c, n)
        unit_done[c] += n

    def limit(c, n):  # at most n more iterations of unit c, not straddling a stop
        n = min(n, total - unit_done[c])
        for s in stops:  # chunks never straddle a stop
            if unit_done[c] < s:
                n = min(n, s - unit_done[c])
        return n

    def next_chunk(chunk, n, elapsed):
        rate = n / max(elapsed, 1e-6)
        return int(min(max(min_chunk, rate * _TARGET_CHUNK_SECONDS), 4 * chunk, 100_000))

    n_threads = min(n_units, cores or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total * n_units, desc=desc(0), unit="it", leave=True, dynamic_ncols=True)

    def show():
        if bar is not None:
            bar.update(sum(unit_done) - bar.n)
            bar.set_description(desc(min(unit_done)), refresh=False)

    def serial():  # one thread: every unit advances by the same chunk in turn
        chunk = first_chunk
        while min(unit_done) < total and not stop.requested:
            n = limit(0, chunk)
            t_chunk = time.perf_counter()
            for c in range(n_units):
                step(c, n)
            show()
            chunk = next_chunk(chunk, n, time.perf_counter() - t_chunk)

    def timed(c, n):
        t = time.perf_counter()
        step(c, n)
        return n, time.perf_counter() - t

    in_flight = {}  # future -> unit

    def drain():  # let the running chunks finish (a further Ctrl-C waits too); first error wins
        error = None
        while in_flight:
            try:
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                continue
            for f in finished:
                in_flight.pop(f)
                if error is None and f.exception() is not None:
                    error = f.exception()
        if error is not None:
            raise error

    def threaded():  # a unit's next chunk is queued as soon as its last one ends
        chunks = [first_chunk] * n_units
        for c in range(n_units):
            if unit_done[c] < total:
                in_flight[pool.submit(timed, c, limit(c, chunks[c]))] = c
        while in_flight:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for f in finished:
                c = in_flight.pop(f)
                if f.exception() is not None:
                    drain()
                    raise f.exception()
                n, elapsed = f.result()
                chunks[c] = next_chunk(chunks[c], n, elapsed)
                if unit_done[c] < total and not stop.requested:
                    in_flight[pool.submit(timed, c, limit(c, chunks[c]))] = c
            show()

    def catch_up(c, target):
        while unit_done[c] < target:
            step(c, limit(c, target - unit_done[c]))

    t0 = time.perf_counter()
    interrupted = False
    try:
        stop.install()
        try:
            if pool is None:
                serial()
            else:
                threaded()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            drain()
        if min(unit_done) < total:  # stopped early: every unit to the furthest one's iteration
            interrupted = True
            target = max(unit_done)
            for c in range(n_units):
                if unit_done[c] < target:
                    if pool is None:
                        catch_up(c, target)
                    else:  # on the pool, so that the main thread only waits
                        in_flight[pool.submit(catch_up, c, target)] = c
            drain()
            show()
    finally:
        stop.restore()
        if pool is not None:
            pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
    done = min(unit_done)
    return done, interrupted, time.perf_counter() - t0
