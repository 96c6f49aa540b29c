"""A real SMTP server on loopback (aiosmtpd) and helpers for the nurture tests."""

import email
import email.policy
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from leads.catalog.storefronts import Storefront
from leads.models import Enrollment, Lead
from leads.nurture import services as nurture
from tests.factories import make_campaign, make_listing, make_publisher

POSTAL_ADDRESS = "Contoso Ltd\n1 Microsoft Way\nRedmond, WA 98052"


@dataclass
class Received:
    recipients: list[str]
    message: email.message.EmailMessage
    raw: bytes = b""  # the message as the server received it

    @property
    def to(self) -> str:
        return self.recipients[0]


class RecordingHandler:
    """Accepts every message, unless told to answer a chosen code for a recipient."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.answers: dict[str, str] = {}  # lowercased address -> "550 …" / "451 …"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.answers.get(address.lower())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), message, envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if r.to.lower() == address.lower()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_serving(settings, handler):
    """`handler` behind a loopback SMTP server that the default mailer sends to."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "Lead Portal <nurture@portal.test>"
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp(settings):
    """A loopback SMTP server that the default mailer sends to."""
    with smtp_serving(settings, RecordingHandler()) as handler:
        yield handler


def _minutes(delay: int | timedelta) -> int:
    """A step's delay: a number of hours, or a timedelta."""
    if isinstance(delay, timedelta):
        return int(delay.total_seconds() // 60)
    return delay * 60


class Sequence:
    """A publisher with a running 3-step sequence on an AppSource campaign."""

    DELAYS = (0, 24, 48)  # hours (or timedeltas): at once, a day later, two days after that

    def __init__(self, *, delays=DELAYS, postal_address=POSTAL_ADDRESS, **publisher_fields):
        self.publisher = make_publisher(
            name="Contoso",
            postal_address=postal_address,
            lead_contact_email="sales@contoso.example",
            **publisher_fields,
        )
        self.listing = make_listing(
            publisher=self.publisher, storefront=Storefront.APPSOURCE, name="Contoso CRM"
        )
        self.campaign = make_campaign(
            publisher=self.publisher,
            listings=[self.listing],
            status="active",
            starts_on=date(2026, 1, 1),
        )
        self.steps = [
            nurture.step_save(
                campaign=self.campaign,
                step=None,
                delay_minutes=_minutes(delay),
                subject=f"Step {n}: hello {{first_name}}",
                body=f"Hi {{first_name}},\n\nStep {n} about {{offer_title}}.\n\n"
                "Unsubscribe: {unsubscribe_url}",
            )
            for n, delay in enumerate(delays, start=1)
        ]
        nurture.sequence_start(campaign=self.campaign)

    def leads(self, count: int, *, consent=True, prefix="lead", **fields) -> list[Lead]:
        now = timezone.now()
        leads = Lead.objects.bulk_create(
            Lead(
                publisher=self.publisher,
                email=f"{prefix}{n}@customer.example",
                email_normalized=f"{prefix}{n}@customer.example",
                first_name=fields.get("first_name", f"Person{n}"),
                last_name="Example",
                company="Customer Inc",
                marketing_consent=consent,
                last_activity_at=now,
                **{k: v for k, v in fields.items() if k != "first_name"},
            )
            for n in range(count)
        )
        return leads

    def enrol(self, leads: list[Lead]) -> int:
        return nurture.enrollments_create(pairs=[(lead.pk, self.campaign.pk) for lead in leads])

    def step_of(self, received: Received) -> int:
        subject = str(received.message["Subject"])
        return int(subject.split(":")[0].removeprefix("Step "))


def enrollment_states() -> dict[str, int]:
    states: dict[str, int] = {}
    for state in Enrollment.objects.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    return states


def make_owner_and_member(publisher):
    from portal.models import Membership
    from tests.factories import make_membership

    owner = make_membership(publisher=publisher, role=Membership.Role.OWNER).user
    member = make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    return owner, member
