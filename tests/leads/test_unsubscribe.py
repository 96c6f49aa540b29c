"""The public unsubscribe page: signed token, GET confirms, POST (one-click) unsubscribes."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse

from leads.campaigns.selectors import campaign_step_figures
from leads.models import Enrollment, Suppression
from leads.nurture import send as nurture_send
from leads.nurture import unsubscribe
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def sent(smtp):  # noqa: F811
    """A sequence whose first step went out to two leads."""
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        sequence.leads_ = sequence.leads(2)
        sequence.enrol(sequence.leads_)
        nurture_send.nurture_send_due()
    sequence.smtp = smtp
    sequence.urls = {r.to: r.message["List-Unsubscribe"].strip("<>") for r in smtp.received}
    return sequence


def path_of(url: str) -> str:
    return url.removeprefix("https://portal.test")


def mailbox_provider() -> Client:
    """No cookies, no CSRF token, and CSRF checks on, as for a real cross-site POST."""
    return Client(enforce_csrf_checks=True)


def test_one_click_post_urlencoded_unsubscribes_and_is_idempotent(sent):
    lead = sent.leads_[0]
    path = path_of(sent.urls[lead.email])
    first = mailbox_provider().post(
        path, ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    again = mailbox_provider().post(
        path, ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )

    assert (first.status_code, again.status_code) == (200, 200)
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.email_hash) == (
        "unsubscribed",
        unsubscribe.email_hash(lead.email),
    )
    enrollment = Enrollment.objects.get(lead=lead)
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "unsubscribed")
    figures = campaign_step_figures(campaign=sent.campaign)
    assert [(f.sent, f.unsubscribed) for f in figures] == [(2, 1), (0, 0), (0, 0)]


def test_one_click_post_multipart_unsubscribes(sent):
    lead = sent.leads_[1]
    response = mailbox_provider().post(
        path_of(sent.urls[lead.email]), {"List-Unsubscribe": "One-Click"}
    )  # the test client encodes a dict as multipart/form-data
    assert response.status_code == 200
    assert Suppression.objects.get().email_hash == unsubscribe.email_hash(lead.email)


def test_no_further_message_after_unsubscribing(sent):
    lead, other = sent.leads_
    mailbox_provider().post(
        path_of(sent.urls[lead.email]), ONE_CLICK, content_type="application/x-www-form-urlencoded"
    )
    with time_machine.travel(T0 + timedelta(days=10), tick=True):
        nurture_send.nurture_send_due()
        nurture_send.nurture_send_due()
    assert len(sent.smtp.to(lead.email)) == 1
    assert len(sent.smtp.to(other.email)) == 2


def test_get_shows_a_confirmation_in_the_readers_language_and_changes_nothing(sent):
    path = path_of(sent.urls[sent.leads_[0].email])
    response = Client().get(path, HTTP_ACCEPT_LANGUAGE="es")

    assert response.status_code == 200
    assert b'<html lang="es">' in response.content
    assert b'method="post"' in response.content
    assert b"Contoso" in response.content
    assert not Suppression.objects.exists()
    assert Enrollment.objects.filter(state="active").count() == 2


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_refused_and_changes_nothing(sent, method):
    token = path_of(sent.urls[sent.leads_[0].email]).split("/")[2]
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    forged = signing.dumps({"p": sent.publisher.pk, "h": "0" * 64})  # not our salt
    for bad in (tampered, forged, "not-a-token"):
        url = reverse("unsubscribe", kwargs={"token": bad})
        response = getattr(mailbox_provider(), method)(url)
        assert response.status_code == 400
    assert not Suppression.objects.exists()


def test_the_token_names_the_publisher_and_the_address_hash_only(sent):
    lead = sent.leads_[0]
    token = path_of(sent.urls[lead.email]).split("/")[2]
    parsed = unsubscribe.token_read(token)
    assert parsed.publisher_id == sent.publisher.pk
    assert parsed.email_hash == unsubscribe.email_hash(lead.email)
    publisher_hex, _send_hex, hashed, _signature = token.split(".")
    assert int(publisher_hex, 16) == sent.publisher.pk
    assert signing.b64_decode(hashed.encode()).hex() == unsubscribe.email_hash(lead.email)
    assert lead.email not in token


def test_suppression_is_per_publisher(sent):
    from tests.factories import make_publisher

    other = make_publisher()
    token = unsubscribe.token_make(publisher_id=other.pk, email=sent.leads_[0].email)
    mailbox_provider().post(
        reverse("unsubscribe", kwargs={"token": token}),
        ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
    )
    assert Suppression.objects.get().publisher == other
    assert Enrollment.objects.filter(state="active").count() == 2


def test_the_pages_carry_the_publishers_brand_and_nothing_of_the_portal(sent):
    """The customer sees neither "Lead Portal" nor its internal footer."""
    path = path_of(sent.urls[sent.leads_[0].email])
    client = Client()

    pages = [client.get(path).text, client.post(path).text]
    invalid = client.get(reverse("unsubscribe", kwargs={"token": "not-a-token"})).text

    for page in pages:
        assert f'<span class="brand">{sent.publisher.name}</span>' in page
        assert f"· {sent.publisher.name}</title>" in page
    for page in [*pages, invalid]:
        assert "Lead Portal" not in page
        assert "site-footer" not in page
        assert "Sign in" not in page
