"""Leases that follow the work: the heartbeat of a live holder, and the stop flag of a
graceful shutdown (docs/delivery.md#leases).

A worker that claims rows (the CRM outbox, the nurture sender) gives them a short lease
and holds them inside a `Heartbeat`: a thread that calls the holder's `renew` every few
seconds, so a live worker keeps its rows however slow its calls are, and a dead one
loses them when its last renewal runs out. The heartbeat stops renewing at the holder's
deadline (the longest its work may take), so a hung process cannot hold rows for ever.

`stopping` is set when the worker is asked to stop (SIGTERM, a deploy): holders finish
the call in flight, give back what they have not started, and return, so the next worker
takes the rows within seconds instead of waiting for the leases to run out.
Celery wiring (portal/celery.py). Celery's warm shutdown would let a pool process run its
task to the end, and billiard makes SIGTERM in a pool process raise SystemExit mid-call;
so:
- `worker_shutting_down` (main process): sets the flag and sends SIGUSR2 to every pool
  process, whose `worker_process_init` made SIGUSR2 set the flag there;
- `task_prerun` (a pool process, once): SIGTERM sets the flag while a holder works, and
  keeps billiard's exit when the process is idle (a deploy that signals the whole process
  group, such as systemd's default KillMode=control-group).
"""

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from billiard.process import current_process
from django.db import connection

logger = logging.getLogger(__name__)

stopping = threading.Event()
STOP_SIGNAL = signal.SIGUSR2  # main process -> pool processes: stop after the call in flight

_worker = None  # the Celery WorkController of this main process
_holders = [0]  # heartbeats running in this process


class Heartbeat:
    """Call `renew()` every `interval` seconds in a thread, until the block ends or the
    deadline passes. A failed renewal (the database or Redis away for a moment) is logged
    and tried again at the next beat; the lease covers a few missed beats."""

    def __init__(self, *, renew: Callable[[], None], interval: float, deadline: float) -> None:
        self.renew, self.interval, self.deadline = renew, interval, deadline
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        _holders[0] += 1
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        _holders[0] -= 1
        self._done.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        try:
            while not self._done.wait(self.interval) and time.monotonic() < self.deadline:
                try:
                    self.renew()
                except Exception as exc:
                    logger.warning("lease.renew_failed", extra={"error": type(exc).__name__})
                    connection.close()  # a cut connection: the next beat opens a fresh one
        finally:
            connection.close()  # this thread's own connection


def worker_init(sender=None, **kwargs) -> None:
    """Celery `worker_init` (main process): remember the worker, to reach its pool."""
    global _worker
    _worker = sender


def worker_shutting_down(sig=None, how=None, **kwargs) -> None:
    """Celery `worker_shutting_down` (main process, in the signal handler): tell the pool
    processes to stop claiming and give back what they hold."""
    stopping.set()
    pool = getattr(_worker, "pool", None)
    try:
        pids = pool.info.get("processes", []) if pool is not None else []
    except Exception:  # a pool without processes (solo, threads): the flag is enough
        pids = []
    for pid in pids:
        with contextlib.suppress(OSError):  # already gone
            os.kill(pid, STOP_SIGNAL)


def worker_process_init(**kwargs) -> None:
    """Celery `worker_process_init` (each pool process): the main process's STOP_SIGNAL
    asks the running task to stop after its call in flight."""
    stopping.clear()
    signal.signal(STOP_SIGNAL, lambda signum, frame: stopping.set())


def task_prerun(**kwargs) -> None:
    """Celery `task_prerun`: in a pool process, once billiard has set its own handlers,
    let SIGTERM stop a working holder softly; an idle process still exits at once."""
    if current_process().name == "MainProcess":
        return  # the worker's own process (solo pool, eager tasks): Celery's handlers stay
    exit_at_once = signal.getsignal(signal.SIGTERM)
    if getattr(exit_at_once, "is_soft_stop", False):
        return

    def soft_stop(signum, frame):
        if _holders[0]:
            stopping.set()
        elif callable(exit_at_once):
            exit_at_once(signum, frame)
        else:
            raise SystemExit(128 + signum)

    soft_stop.is_soft_stop = True
    signal.signal(signal.SIGTERM, soft_stop)
