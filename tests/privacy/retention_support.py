"""Helpers of the retention tests: leads last active at a given time, and a fake erasure
that records its calls and marks the leads erased as the real one does (the address)."""

from datetime import datetime

from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat

from leads.lifecycle.models import ERASED_EMAIL_DOMAIN
from leads.models import Lead
from tests import factories


def make_lead_last_active(*, publisher, at: datetime, **fields) -> Lead:
    """A lead created (at `created_at`, else `at`) and last active at `at`; created_at is
    auto_now_add, so it is set after."""
    created_at = fields.pop("created_at", at)
    lead = factories.make_lead(publisher=publisher, **fields)
    Lead.objects.filter(pk=lead.pk).update(created_at=created_at, last_activity_at=at)
    return lead


class Crash(BaseException):
    """A worker killed mid-batch: not an error the run records, it just stops."""


class FakeErase:
    """Records each call's lead ids; raises `fail_on` (an exception) on call `fail_at`."""

    def __init__(self, *, fail_at: int | None = None, fail_on: BaseException | None = None):
        self.calls: list[list[int]] = []
        self.fail_at, self.fail_on = fail_at, fail_on
        self.sources: set[str] = set()

    def __call__(self, *, leads, actor, reason: str, source: str):
        ids = sorted(leads.values_list("pk", flat=True))
        self.calls.append(ids)
        self.sources.add(source)
        leads.update(
            email_normalized=Concat(
                Value("erased-"),
                Cast("uuid", CharField()),
                Value(ERASED_EMAIL_DOMAIN),
                output_field=CharField(),
            )
        )
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise self.fail_on
        return None

    @property
    def erased(self) -> list[int]:
        return [pk for call in self.calls for pk in call]


def retention_admin_rows(publisher) -> dict:
    """A finished run with the publisher's part, for the admin smoke test."""
    from django.utils import timezone

    from privacy.retention.models import RetentionRun, RetentionRunPublisher

    now = timezone.now()
    run = RetentionRun.objects.create(status="finished", finished_at=now, publishers=1)
    RetentionRunPublisher.objects.create(
        run=run, publisher=publisher, months=24, cutoff=now, leads_erased=2, batches=1
    )
    return {RetentionRun: run}
