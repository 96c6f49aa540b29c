"""Sending a claim: its calls, in order, the first alone and the rest together on a few
threads (docs/delivery.md#sending).

A connector with a batch API takes the claim in one call; one without takes a call per
row. The tokens for the whole claim were taken from the target's bucket before the claim
(crm.ratelimit), so the calls may go out at once without passing the CRM's limit. The
first call goes alone: it opens the pooled keep-alive connection (one TLS handshake, not
one per thread) and a dead CRM costs one timeout before the rest are tried. The others
share a pool of CRM_SEND_CONCURRENCY threads per worker process, each call with its
timeouts; calls touch no database. Erasure calls stay on the caller's thread (they may
send mail and read the database). A call not started when the worker is asked to stop is
not made: its rows are returned unsent, for the caller to give back.
"""

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from crm import erasure, pacing, payloads
from crm.connectors import ConfigurationError, Result, SendOptions, connector_for
from crm.models import CrmTarget, Delivery
from portal.leases import stopping

logger = logging.getLogger(__name__)

Pairs = list[tuple[Delivery, Result]]


class Call:
    """One call to the CRM for some of a claim's rows."""

    def __init__(self, rows: list[Delivery], send: Callable[[], list[Result]], threaded: bool):
        self.rows, self.send, self.threaded = rows, send, threaded


def calls_for(target: CrmTarget, batch: list[Delivery], options: SendOptions) -> list[Call]:
    """The claim's calls in order: regular rows (one call for a batch API, else one per
    row), then the erasures through crm.erasure."""
    regular = [d for d in batch if d.event != Delivery.Event.ERASED]
    erasures = [d for d in batch if d.event == Delivery.Event.ERASED]
    calls: list[Call] = []
    if regular:
        payload_list = payloads.payloads_for(regular, target)
        step = len(regular) if pacing.calls_per_claim(target) == 1 else 1
        connector = connector_for(target.kind)
        for start in range(0, len(regular), step):
            chunk = payload_list[start : start + step]
            send = lambda chunk=chunk: connector.send(target.config, chunk, options)  # noqa: E731
            calls.append(Call(regular[start : start + step], send, threaded=True))
    if erasures:
        send = lambda: erasure.erasures_send(target, erasures, options)  # noqa: E731
        calls.append(Call(erasures, send, threaded=False))
    return calls


def calls_run(target: CrmTarget, calls: list[Call]) -> tuple[Pairs, list[Delivery]]:
    """Make the calls; returns (row, result) pairs in the calls' order, and the rows of
    the calls not made because the worker was asked to stop after the first."""
    if not calls:
        return [], []
    first, rest = calls[0], calls[1:]
    answers: list[Pairs | None] = [attempt(target, first.rows, first.send)]

    def run(call: Call) -> Pairs | None:
        if stopping.is_set():
            return None
        return attempt(target, call.rows, call.send)

    threaded = [call for call in rest if call.threaded]
    if len(threaded) > 1 and settings.CRM_SEND_CONCURRENCY > 1:
        answers += list(_pool().map(run, threaded))
    else:
        answers += [run(call) for call in threaded]
    answers += [run(call) for call in rest if not call.threaded]
    ordered = [first, *threaded, *(call for call in rest if not call.threaded)]
    pairs = [pair for answer in answers if answer for pair in answer]
    unsent: list[Delivery] = []
    for call, answer in zip(ordered, answers, strict=True):
        if answer is None:
            unsent += call.rows
    return pairs, unsent


def attempt(target: CrmTarget, rows: list[Delivery], send) -> Pairs:
    """One call's (row, result) pairs: a connector's error becomes a result, never an
    exception (a configuration error is permanent, a bug is retried later)."""
    if not rows:
        return []
    try:
        results = send()
    except ConfigurationError as exc:
        results = [Result(str(d.idempotency_key), "permanent", error=str(exc)) for d in rows]
    except Exception as exc:  # a connector bug must not wedge the rows: retry later
        logger.exception("crm.delivery.connector_error", extra={"target_id": target.pk})
        results = [
            Result(
                str(d.idempotency_key), "retryable", error=f"internal error: {type(exc).__name__}"
            )
            for d in rows
        ]
    return list(zip(rows, results, strict=True))


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The worker process's sending threads, started on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.CRM_SEND_CONCURRENCY, thread_name_prefix="crm-send"
            )
        return _executor


def _forget_pool() -> None:
    # A forked pool process inherits no threads: it starts a pool of its own.
    global _executor, _executor_lock
    _executor, _executor_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)
