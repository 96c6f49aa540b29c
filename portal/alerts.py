"""Rate-limited alert emails: claim the row's alert slot, then send once the transaction commits.

crm.alerts (a target whose deliveries fail) and inbound.alerts (an inbound URL over its hourly
limit) each stamp a timestamp field on their own row. The conditional UPDATE is the arbiter,
so a flood on many workers sends one email per interval; the email leaves after the commit,
and a mail server that refuses it is logged (with the row's id only), never raised.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def alert_claim(
    *,
    rows: QuerySet,
    field: str,
    now: datetime,
    interval: timedelta,
    recipients: Callable[[], list[str]],
) -> list[str]:
    """Stamp `field` with `now` on `rows` unless it holds a time within `interval` of now.
    When this caller stamped it, it alone sends the alert: the `recipients()` it returns.
    Otherwise, or when there is nobody to tell, an empty list (the stamp stays, so a
    publisher with no address is not asked again every time)."""
    due = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": now - interval})
    if not rows.filter(due).update(**{field: now}):
        return []
    return recipients()


def alert_send_on_commit(
    *,
    subject: str,
    template: str,
    context: dict[str, Any],
    recipients: list[str],
    log_event: str,
    log_extra: dict[str, Any],
) -> None:
    """Render `template` with `context` and email it to `recipients` after the commit.
    A failure is logged as `log_event` with `log_extra` (ids only, no address)."""
    body = render_to_string(template, context)
    transaction.on_commit(
        lambda: _send(subject, body, recipients, log_event, log_extra), robust=True
    )


def _send(
    subject: str, body: str, recipients: list[str], log_event: str, log_extra: dict[str, Any]
) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        logger.warning(log_event, extra=log_extra, exc_info=True)
