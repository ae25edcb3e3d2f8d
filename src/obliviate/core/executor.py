"""One executor for the independent trainings of a run: serial, local processes, or Ray.

``bench``'s seeds, the N models per side of ``eval`` and SISA's shards are
independent trainings; they go through :meth:`Executor.map`, which returns the
results in the order of the items, whatever ran where.

- ``serial`` (default): one after the other, in this process.
- ``processes`` (``--workers N``): N local worker processes, started from a clean
  server process (``forkserver``; ``spawn`` where there is none), never forked from
  this one: a fork inherits torch's OpenMP pool half-alive and hangs (seen here). The
  job, its items and its results travel with cloudpickle, so closures and lambdas
  are fine.
- ``ray`` (``--backend ray [--address ADDR]``): one Ray task per item on a cluster
  (``ray.init()`` starts a local one when no address is given; ``pip install
  'obliviate[ray]'``; obliviate must be installed on the cluster's workers).

**Only the driver writes the store.** Inside a job, :meth:`Store.save_model
<obliviate.core.store.Store.save_model>` does not write: it collects the write
(key, weights, meta), which travels back with the job's result, and the driver
replays it. So a store on a laptop can serve a cluster, and two workers never race
on one SQLite index.

**Same seeds, same numbers, at the same threads per training.** A job draws its
randomness from its own seed, as the serial loop does; but torch's CPU kernels split
their reductions by thread, so the number of threads a training runs with moves the
last bits (measured: F 0.1966 at 2 threads, 0.1985 at 1, digits class:3, N = 8). A
job runs with ``threads`` torch threads, by default the CPU count divided by the
workers (``processes``) or 1 (``ray``: a task reserves one CPU); a serial run with
the same ``--threads`` gives identical numbers (tested on every backend). Keeping the
driver's threads in every worker instead oversubscribes the cores: on 2 cores, 2
workers × 2 threads took 94 s where serial took 46 s.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

import cloudpickle
import torch

from obliviate.core.store import collecting_writes, replay_writes

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("serial", "processes", "ray")

def run_job(fn: Callable[[T], R], item: T, threads: int) -> tuple[R, list]:
    """Run one job as a worker does: the driver's thread count, store writes collected."""
    torch.set_num_threads(threads)
    with collecting_writes() as writes:
        result = fn(item)
    return result, writes


class Executor:
    """``map(fn, items)``: ``fn`` on every item, results in the items' order. Used as a
    context manager, this process trains with ``threads`` torch threads inside the
    block (the jobs' count: the driver trains the original model), restored after."""

    name = ""
    threads: int | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        self._threads_before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self._threads_before)
        self.close()


class Serial(Executor):
    name = "serial"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map(self, fn, items):
        return [fn(item) for item in items]


_JOB: Callable | None = None


def _install(job: bytes, threads: int) -> None:
    global _JOB
    _JOB = cloudpickle.loads(job)
    torch.set_num_threads(threads)


def _call(item: bytes) -> bytes:
    return cloudpickle.dumps(run_job(_JOB, cloudpickle.loads(item), torch.get_num_threads()))


class Processes(Executor):
    """``workers`` local processes (see the module docstring)."""

    name = "processes"

    def __init__(self, workers: int, threads: int | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers, self.threads = workers, threads or max(1, (os.cpu_count() or 1) // workers)
        methods = multiprocessing.get_all_start_methods()
        self.context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self.context.get_start_method() == "forkserver":
            self.context.set_forkserver_preload(["torch", "obliviate"])

    def map(self, fn, items):
        items = [cloudpickle.dumps(item) for item in items]
        if not items:
            return []
        with ProcessPoolExecutor(min(self.workers, len(items)), mp_context=self.context, initializer=_install,
                                 initargs=(cloudpickle.dumps(fn), self.threads)) as pool:
            outputs = [cloudpickle.loads(out) for out in pool.map(_call, items)]
        for _, writes in outputs:
            replay_writes(writes)
        return [result for result, _ in outputs]


class Ray(Executor):
    """One Ray task per item on the cluster at ``address`` (a local instance when None)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("the Ray backend needs Ray: pip install 'obliviate[ray]'") from None
        self.ray, self.threads = ray, threads or 1
        self.started = not ray.is_initialized()
        if self.started:
            if address and address != "auto":
                _reachable(address)
            try:
                ray.init(address=address, num_cpus=None if address else (workers or os.cpu_count()),
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (Exception, SystemExit) as err:  # Ray raises ConnectionError, RuntimeError, exits ... on a bad address
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ValueError(f"cannot connect to the Ray cluster at {address or 'a new local instance'}: "
                                 f"{first}") from None
        self.remote = ray.remote(num_cpus=1)(run_job)

    def map(self, fn, items):
        refs = [self.remote.remote(fn, item, self.threads) for item in items]
        outputs = self.ray.get(refs)
        for _, writes in outputs:
            replay_writes(writes)
        return [result for result, _ in outputs]

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address nothing listens on (Ray itself retries for minutes, then exits)."""
    import socket

    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise ValueError(f"cannot connect to the Ray cluster at {address}: {reason}") from None


def make_executor(backend: str = "serial", workers: int = 1, address: str | None = None,
                  threads: int | None = None) -> Executor:
    """The executor a command's ``--backend`` / ``--workers`` / ``--address`` / ``--threads`` ask
    for. Within its ``with`` block this process trains with the jobs' thread count too
    (the original model is trained here), so ``--workers 2`` gives the numbers of
    ``--threads 1`` (2 cores)."""
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if address and backend != "ray":
        raise ValueError("--address is the Ray cluster's: it needs --backend ray")
    if backend == "ray":
        return Ray(address, workers if workers > 1 else None, threads)
    if backend == "processes" or workers > 1:
        return Processes(workers, threads)
    return Serial(threads)
