"""Where grid cells run: local processes or a dask.distributed cluster.

Both executors take a list of :class:`~geobayes.bench.cell.CellSpec` and yield cell
records as they finish, so the grid writes each one at once (an interrupted grid keeps
them).  A cell is a pure function of its spec (:func:`geobayes.bench.cell.run_cell`).

* :class:`LocalExecutor` -- a ``concurrent.futures.ProcessPoolExecutor`` with ``jobs``
  worker processes (``spawn`` start method: no fork of a process that holds threads);
* :class:`DaskExecutor` -- ``dask.distributed``: a scheduler address, or a
  ``LocalCluster`` of ``workers`` single-threaded worker processes when none is given.
  ``dask[distributed]`` is the optional ``dask`` extra (also in ``dev``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from geobayes.bench.cell import CellSpec, error_record, run_cell

__all__ = ["LocalExecutor", "DaskExecutor", "get_executor"]


class LocalExecutor:
    """Cells in ``jobs`` local worker processes (``jobs=0``: in this process, for debugging).

    A worker that dies (a crash in compiled code, the out-of-memory killer) does not end
    the grid: the cells it left unfinished run again one at a time, each in a fresh
    worker, and a cell that kills its worker again is recorded as failed.
    ``cell_fn`` is the function run per cell (default :func:`run_cell`; tests swap it).
    """

    name = "local"

    def __init__(self, jobs: int = 1, cell_fn=run_cell):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise ValueError(f"jobs must be a non-negative integer, got {jobs!r}")
        self.jobs = jobs
        self.cell_fn = cell_fn

    def run(self, specs: list[CellSpec]) -> Iterator[dict]:
        if self.jobs == 0:
            for s in specs:
                yield self.cell_fn(s)
            return
        ctx = multiprocessing.get_context("spawn")
        left = list(specs)
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx) as pool:
            futures = {pool.submit(self.cell_fn, s): s for s in specs}
            try:
                for f in as_completed(futures):
                    try:
                        rec = f.result()
                    except BrokenProcessPool:
                        break  # a worker died: the pool is unusable, see below
                    left.remove(futures[f])
                    yield rec
                else:
                    return
                for f, s in futures.items():  # cells that finished before the crash
                    if s in left and f.done() and not f.cancelled() and f.exception() is None:
                        left.remove(s)
                        yield f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        for s in left:  # one cell per fresh worker: the one that kills it is known
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                try:
                    yield pool.submit(self.cell_fn, s).result()
                except BrokenProcessPool:
                    yield error_record(
                        s,
                        "the worker process died while running this cell (a crash in "
                        "compiled code, or killed, e.g. out of memory)",
                    )

    def close(self):
        pass


class DaskExecutor:
    """Cells as dask.distributed tasks on ``scheduler`` (or a new ``LocalCluster``)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 2, timeout: float = 3.0):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ImportError(
                "the dask executor needs dask.distributed: pip install 'geobayes[dask]'"
            ) from None
        self._cluster = None
        if scheduler:
            _probe(scheduler, timeout)
            try:
                self.client = Client(scheduler, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise OSError(
                    f"cannot reach the dask scheduler at {scheduler} within {timeout:g} s "
                    f"({type(exc).__name__}); start one with 'dask scheduler' or omit "
                    "--scheduler to start a local cluster"
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            self.client = Client(self._cluster)

    def run(self, specs: list[CellSpec]) -> Iterator[dict]:
        from dask.distributed import as_completed as das_completed

        futures = [
            self.client.submit(
                run_cell, s, key=f"geobayes-cell-{i}-{abs(hash(s.key())):x}", pure=False
            )
            for i, s in enumerate(specs)
        ]
        try:
            for f in das_completed(futures):
                yield f.result()
        except BaseException:
            self.client.cancel(futures)
            raise

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _probe(address: str, timeout: float) -> None:
    """Fail within ``timeout`` seconds, with one line, when nothing listens at a tcp address."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(address if "://" in address else f"tcp://{address}")
    if u.scheme not in ("tcp", "tls") or not u.hostname:
        return  # other transports: let dask decide
    try:
        with socket.create_connection((u.hostname, u.port or 8786), timeout=timeout):
            pass
    except OSError as exc:
        raise OSError(
            f"cannot reach the dask scheduler at {address} ({exc.strerror or type(exc).__name__}); "
            "start one with 'dask scheduler' or omit --scheduler to start a local cluster"
        ) from None


def get_executor(name: str, *, jobs: int = 1, scheduler: str | None = None, workers: int = 2):
    """Build the executor ``name`` (``"local"`` or ``"dask"``)."""
    if name == "local":
        if scheduler:
            raise ValueError("--scheduler needs --executor dask")
        return LocalExecutor(jobs)
    if name == "dask":
        return DaskExecutor(scheduler, workers=workers)
    raise ValueError(f"unknown executor {name!r}; available: local, dask")
