"""Reads of retention: the leads past a cutoff, the next run, the last run's figures."""

import calendar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from leads.lifecycle.models import ERASED_EMAIL_DOMAIN, lead_last_active
from leads.models import Lead
from portal.models import Publisher
from privacy.retention.models import RetentionRun, RetentionRunPublisher


def months_before(moment: datetime, months: int) -> datetime:
    """The same time `months` calendar months earlier (31 March less one month: 28 or 29
    February), as a data-protection officer counts "24 months after"."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def lead_ids_past_retention(*, publisher_id: int, cutoff: datetime, limit: int) -> list[int]:
    """Up to `limit` ids of the publisher's leads not erased yet and last active before
    `cutoff`, oldest first: a range scan of the partial index `lead_pub_last_active`."""
    return list(
        Lead.objects.filter(publisher_id=publisher_id)
        .exclude(email_normalized__endswith=ERASED_EMAIL_DOMAIN)
        .alias(last_active=lead_last_active())
        .filter(last_active__lt=cutoff)
        .order_by("last_active", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def publishers_with_retention() -> list[tuple[int, int]]:
    """(publisher id, months) of every publisher with retention on."""
    return list(
        Publisher.objects.filter(retention_months__isnull=False)
        .order_by("pk")
        .values_list("pk", "retention_months")
    )


def retention_next_run_at(*, now: datetime) -> datetime:
    """When beat starts the next run: the next RETENTION_HOUR o'clock in TIME_ZONE."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    start = local.replace(hour=settings.RETENTION_HOUR, minute=0, second=0, microsecond=0)
    if start <= local:
        # A calendar day later, at the same wall-clock hour across a DST change.
        start = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    return start


def retention_run_latest(*, finished: bool = False) -> RetentionRun | None:
    """The latest run (or the latest finished one)."""
    runs = RetentionRun.objects.all()
    if finished:
        runs = runs.filter(status=RetentionRun.Status.FINISHED)
    return runs.order_by("-started_at", "-id").first()


def retention_last_for_publisher(*, publisher: Publisher) -> RetentionRunPublisher | None:
    """The publisher's part of the latest run that included it, with its run: one query."""
    return (
        RetentionRunPublisher.objects.filter(publisher=publisher)
        .select_related("run")
        .order_by("-run_id")
        .first()
    )
