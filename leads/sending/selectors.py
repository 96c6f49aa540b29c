"""Reads of sending identities and of each publisher's sending health (docs/email.md)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q

from leads.models import EmailEvent, EmailSend, SendingIdentity, Suppression

RATE_DAYS = 30
# Gmail's bulk-sender rule: keep the spam rate under 0.3% (and ideally under 0.1%).
SPAM_RATE_LIMIT = 0.003


@dataclass(frozen=True)
class SendingRates:
    days: int
    sent: int
    bounced: int
    complained: int
    suppressed: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0

    @property
    def is_over_spam_limit(self) -> bool:
        return self.complaint_rate > SPAM_RATE_LIMIT


def identity_for_publisher(*, publisher) -> SendingIdentity | None:
    """The publisher's sending identity, if it has set one."""
    return SendingIdentity.objects.filter(publisher=publisher).first()


def identities_verified(*, publisher_ids: set[int]) -> dict[int, SendingIdentity]:
    """The verified identities of these publishers, by publisher id (one query)."""
    rows = SendingIdentity.objects.filter(
        publisher_id__in=publisher_ids, status=SendingIdentity.Status.VERIFIED
    )
    return {row.publisher_id: row for row in rows}


def sending_rates(*, publisher, now: datetime, days: int = RATE_DAYS) -> SendingRates:
    """The publisher's messages handed over in the last `days`, and how many of them
    bounced (SMTP 5xx or an ESP's hard bounce) or drew a complaint (two queries)."""
    complained = EmailEvent.objects.filter(send=OuterRef("pk"), kind=EmailEvent.Kind.COMPLAINED)
    counts = EmailSend.objects.filter(
        enrollment__campaign__publisher=publisher,
        created_at__gte=now - timedelta(days=days),
        status__in=[
            EmailSend.Status.SENT,
            EmailSend.Status.BOUNCED,
            EmailSend.Status.INTERRUPTED,
        ],
    ).aggregate(
        sent=Count("pk"),
        bounced=Count("pk", filter=Q(status=EmailSend.Status.BOUNCED)),
        complained=Count("pk", filter=Q(Exists(complained))),
    )
    return SendingRates(
        days=days,
        sent=counts["sent"],
        bounced=counts["bounced"],
        complained=counts["complained"],
        suppressed=Suppression.objects.filter(publisher=publisher).count(),
    )
