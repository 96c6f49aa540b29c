"""Intake's answer per item, and its transactions, retried on deadlock or serialization failure."""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


@dataclass
class ItemOutcome:
    status_code: int  # 201 created, 200 replayed, 422 refused
    answer: dict | None = None
    errors: list[dict] | None = None


def refusal(loc: list, msg: str, kind: str) -> ItemOutcome:
    return ItemOutcome(422, errors=[{"loc": loc, "msg": msg, "type": kind}])


def unstorable(exc: Exception) -> ItemOutcome:
    """The answer for an item the database refused although it passed validation."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    logger.warning("leads.intake.unstorable", extra={"sqlstate": sqlstate})
    msg = _("The database refused this lead; it was not stored.")
    return refusal(["body"], msg, "unstorable")


RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.02


class IntakeBusyError(Exception):
    """The database kept refusing a transaction for lock conflicts; retry later."""


def is_retryable(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def run_atomic[T](work: Callable[[], T]) -> T:
    """Run work in a transaction, again after a deadlock or a serialization failure.

    Only a transaction of our own can be retried: inside a caller's transaction the
    error is the caller's to handle, since its locks are still held.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return work()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if not is_retryable(exc):
                raise
            sqlstate = exc.__cause__.sqlstate
            logger.warning("leads.intake.retried", extra={"attempt": attempt, "sqlstate": sqlstate})
        if attempt < MAX_ATTEMPTS:
            # Jittered, growing pauses: the other transaction finishes, ours goes second.
            pause = random.uniform(0.5, 1.5) * BACKOFF_SECONDS * 2 ** (attempt - 1)  # noqa: S311
            time.sleep(pause)
    raise IntakeBusyError("lock conflicts persisted")
