"""Optional click tracking without an ESP: signed redirects, never an open redirect."""

import re

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from leads.models import EmailEvent, NurtureSequence
from leads.nurture import links
from tests.leads.esp_event_support import (
    sent,  # noqa: F401
    webhook_secret,  # noqa: F401
)
from tests.leads.nurture_support import Sequence, make_owner_and_member, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db]

LINK = "https://contoso.example/docs?a=1&b=two"
TRACKED = re.compile(r"https://portal\.test/r/([^/\s\"<>]+)/")


@pytest.fixture
def tracked_sent(smtp, settings):  # noqa: F811
    """A click-tracking sequence whose first step, with a link, went out to one lead."""
    settings.PORTAL_BASE_URL = "https://portal.test"
    sequence = Sequence()
    step = sequence.steps[0]
    step.body = f"Hi {{first_name}},\n\nRead {LINK}.\n\nUnsubscribe: {{unsubscribe_url}}"
    step.save(update_fields=["body"])
    NurtureSequence.objects.filter(campaign=sequence.campaign).update(click_tracking=True)
    sequence.enrol(sequence.leads(1))
    from leads.nurture import send as nurture_send

    nurture_send.nurture_send_due()
    sequence.received = smtp.received[0]
    return sequence


def parts(received) -> tuple[str, str]:
    text = received.message.get_body(("plain",)).get_content()
    html = received.message.get_body(("html",)).get_content()
    return text, html


def test_tracking_is_off_by_default(sent):  # noqa: F811
    assert not NurtureSequence.objects.filter(click_tracking=True).exists()
    assert not any(TRACKED.search(r.raw.decode()) for r in sent.smtp.received)


def test_links_go_through_the_redirect_and_the_click_is_recorded(tracked_sent):
    text, html = parts(tracked_sent.received)
    signed_text = TRACKED.search(text).group(1)
    assert LINK not in text and LINK.replace("&", "&amp;") not in html
    assert TRACKED.search(html)
    assert "/unsubscribe/" in text  # the portal's own links are left alone

    response = Client().get(f"/r/{signed_text}/")

    assert (response.status_code, response["Location"]) == (302, LINK)
    event = EmailEvent.objects.get()
    assert (event.kind, event.url, event.esp) == ("clicked", LINK, "portal")
    assert event.send.step == tracked_sent.steps[0]


def test_a_tampered_or_forged_link_is_refused_without_redirect(tracked_sent):
    signed = TRACKED.search(parts(tracked_sent.received)[0]).group(1)
    forged_unsigned = signing.dumps([1, "https://evil.example/"], salt="another-salt")
    other_key = signing.dumps(
        [1, "https://evil.example/"], key="not-our-secret", salt=links.SALT, compress=True
    )
    attempts = [
        signed[:-2] + ("AA" if not signed.endswith("AA") else "BB"),
        forged_unsigned,
        other_key,
        "https%3A%2F%2Fevil.example%2F",
        "x",
    ]

    responses = [Client().get(f"/r/{value}/") for value in attempts]

    # A value with an encoded slash does not even reach the view (404): never a redirect.
    assert [r.status_code for r in responses] == [400, 400, 400, 404, 400]
    assert all("Location" not in r for r in responses)
    assert not EmailEvent.objects.exists()


def test_only_http_links_are_signed_and_html_entities_are_read(settings):
    settings.PORTAL_BASE_URL = "https://portal.test"

    class Send:
        pk = 7

    html = '<a href="https://a.example/x?p=1&amp;q=2">x</a> mailto:me@example.com'
    text = "See https://a.example/y). And javascript:alert(1)"

    html_out = links.links_tracked(html, send=Send())
    text_out = links.links_tracked(text, send=Send())

    html_signed = TRACKED.search(html_out).group(1)
    assert links.link_read(html_signed).url == "https://a.example/x?p=1&q=2"
    assert "mailto:me@example.com" in html_out
    assert text_out.endswith("). And javascript:alert(1)")
    assert links.link_read(TRACKED.search(text_out).group(1)).url == "https://a.example/y"
    not_http = signing.dumps([7, "javascript:alert(1)"], salt=links.SALT, compress=True)
    assert links.link_read(not_http) is None


def test_the_owner_turns_click_tracking_on_and_off(smtp):  # noqa: F811
    sequence = Sequence()
    owner, member = make_owner_and_member(sequence.publisher)
    client = Client()
    client.force_login(owner)
    url = reverse("campaign-sequence-click-tracking", kwargs={"campaign_id": sequence.campaign.pk})
    page_url = reverse("campaign-sequence", kwargs={"campaign_id": sequence.campaign.pk})

    on = client.post(url, {"click_tracking": "on"})
    page = client.get(page_url).content.decode()
    is_on = NurtureSequence.objects.get(campaign=sequence.campaign).click_tracking
    client.post(url, {})
    as_member = Client()
    as_member.force_login(member)
    refused = as_member.post(url, {"click_tracking": "on"})

    assert on.status_code == 302 and is_on
    assert refused.status_code == 403
    assert 'name="click_tracking" checked' in page
    assert not NurtureSequence.objects.get(campaign=sequence.campaign).click_tracking
