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

from geobayes.bench.cell import CellSpec, run_cell

__all__ = ["LocalExecutor", "DaskExecutor", "get_executor"]


class LocalExecutor:
    """Cells in ``jobs`` local worker processes (``jobs=0``: in this process, for debugging)."""

    name = "local"

    def __init__(self, jobs: int = 1):
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise ValueError(f"jobs must be a non-negative integer, got {jobs!r}")
        self.jobs = jobs

    def run(self, specs: list[CellSpec]) -> Iterator[dict]:
        if self.jobs == 0:
            for s in specs:
                yield run_cell(s)
            return
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_cell, s) for s in specs]
            try:
                for f in as_completed(futures):
                    yield f.result()
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

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
