"""Each publisher's own bounce and complaint rates on the identity page, with Gmail's 0.3%
spam-rate warning (docs/email.md)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from leads.models import EmailEvent, EmailSend
from leads.nurture import send as nurture_send
from leads.nurture.events import email_event_record
from leads.sending import selectors
from tests.leads.nurture_support import Sequence, make_owner_and_member, smtp  # noqa: F401
from tests.portal.tenancy_world import client_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PAGE = "/settings/sending/"


def sent_sequence(name: str, count: int) -> Sequence:
    sequence = Sequence(delays=(0,))
    sequence.publisher.name = name
    sequence.publisher.save(update_fields=["name"])
    with time_machine.travel(T0, tick=True):
        sequence.enrol(sequence.leads(count, prefix=name.lower()))
        nurture_send.nurture_send_due(budget_seconds=120)
    sequence.sends = list(
        EmailSend.objects.filter(enrollment__campaign=sequence.campaign).order_by("pk")
    )
    return sequence


def event(send: EmailSend, kind: str, n: int) -> None:
    email_event_record(esp="postmark", event_id=f"ev-{send.pk}-{n}", kind=kind, send=send)


@pytest.fixture
def two_publishers(smtp):  # noqa: F811
    contoso = sent_sequence("Contoso", 4)
    fabrikam = sent_sequence("Fabrikam", 2)
    event(contoso.sends[0], EmailEvent.Kind.COMPLAINED, 1)
    event(contoso.sends[0], EmailEvent.Kind.COMPLAINED, 2)  # one send, counted once
    event(contoso.sends[1], EmailEvent.Kind.BOUNCED, 1)
    event(fabrikam.sends[0], EmailEvent.Kind.COMPLAINED, 1)
    event(fabrikam.sends[1], EmailEvent.Kind.COMPLAINED, 1)
    return contoso, fabrikam


def test_rates_count_the_publishers_own_sends_only(two_publishers):
    contoso, fabrikam = two_publishers

    rates = selectors.sending_rates(publisher=contoso.publisher, now=T0 + timedelta(days=1))

    assert (rates.sent, rates.bounced, rates.complained) == (4, 1, 1)
    assert (rates.bounce_rate, rates.complaint_rate) == (0.25, 0.25)
    # Suppressions are per publisher too: the complaint and the bounce
    assert rates.suppressed == 2
    other = selectors.sending_rates(publisher=fabrikam.publisher, now=T0 + timedelta(days=1))
    assert (other.sent, other.complained, other.suppressed) == (2, 2, 2)


def test_sends_older_than_the_window_are_not_counted(two_publishers):
    contoso, _fabrikam = two_publishers

    rates = selectors.sending_rates(publisher=contoso.publisher, now=T0 + timedelta(days=31))

    assert (rates.sent, rates.bounced, rates.complained, rates.complaint_rate) == (0, 0, 0, 0.0)


def test_the_page_warns_above_gmails_spam_rate(two_publishers, django_assert_max_num_queries):
    contoso, _fabrikam = two_publishers
    owner, _member = make_owner_and_member(contoso.publisher)
    client = client_for(owner)

    with time_machine.travel(T0 + timedelta(days=1)), django_assert_max_num_queries(12):
        page = client.get(PAGE).content.decode()

    assert '<dd id="rate-sent">4</dd>' in page
    assert '<dd id="rate-bounce">25.00 %</dd>' in page
    assert '<dd id="rate-complaint">25.00 %</dd>' in page
    assert '<dd id="rate-suppressed">2</dd>' in page
    assert 'id="spam-warning"' in page
    assert "above 0.3 %, the limit Gmail sets for bulk senders" in page


def test_no_warning_under_the_limit(smtp):  # noqa: F811
    contoso = sent_sequence("Contoso", 3)
    owner, _member = make_owner_and_member(contoso.publisher)

    with time_machine.travel(T0 + timedelta(days=1)):
        page = client_for(owner).get(PAGE).content.decode()

    assert '<dd id="rate-complaint">0.00 %</dd>' in page
    assert 'id="spam-warning"' not in page
