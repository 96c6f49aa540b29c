"""The step editor's live preview (htmx POST, sandboxed HTML part, the sender's renderer)
and "Send me a test" with both parts, read as raw bytes from a loopback SMTP server."""

import email
import email.policy
import html
import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from leads.nurture import render as nurture_render
from leads.views.campaigns import SAMPLE_LEAD
from tests.leads.nurture_support import Sequence, make_owner_and_member, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

BODY = "Hello {first_name},\n\nA word for **{company}** about {offer_title}.\n\n- one\n- two"


class Tags(HTMLParser):
    """The elements and attributes of a document, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.attributes += [(name, value or "") for name, value in attrs]


@pytest.fixture
def editor():
    sequence = Sequence(delays=(0,))
    owner, member = make_owner_and_member(sequence.publisher)
    return sequence, owner, member


def client_of(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def preview(client: Client, campaign, htmx=True, **data):
    url = reverse("campaign-step-live-preview", kwargs={"campaign_id": campaign.pk})
    return client.post(url, data, headers={"HX-Request": "true"} if htmx else {})


def srcdoc_of(page: str) -> str:
    (frame,) = re.findall(r"<iframe [^>]*>", page)
    assert ' sandbox="" ' in frame
    return html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))


def test_the_preview_shows_both_parts_for_the_sample_lead(editor):
    sequence, owner, _member = editor

    response = preview(client_of(owner), sequence.campaign, subject="Hi {first_name}", body=BODY)

    assert response.status_code == 200
    page = response.content.decode()
    assert '<dd class="live-subject">Hi Ada</dd>' in page
    document = srcdoc_of(page)
    assert "<strong>Analytical Engines Ltd</strong>" in document
    assert "<li>one</li>" in document
    assert "Contoso" in document  # the footer: the publisher's name and postal address
    text = re.search(r'<pre class="email-text">(.*?)</pre>', page, re.S).group(1)
    assert "A word for **Analytical Engines Ltd** about Contoso CRM." in html.unescape(text)
    assert "Unsubscribe" in html.unescape(text)


def test_the_preview_is_what_the_sender_renders(editor):
    sequence, owner, _member = editor
    page = preview(client_of(owner), sequence.campaign, subject="S", body=BODY).content.decode()

    recipient = nurture_render.Recipient(
        lead=SAMPLE_LEAD,
        publisher_name=sequence.publisher.name,
        postal_address=sequence.publisher.postal_address,
        reply_to=sequence.publisher.lead_contact_email,
        offer_title="Contoso CRM",
    )
    unsubscribe_url = re.search(r'href="([^"]*/unsubscribe/preview/)"', srcdoc_of(page)).group(1)
    message = nurture_render.build_message(
        subject="S", body=BODY, recipient=recipient, unsubscribe_url=unsubscribe_url
    )
    assert srcdoc_of(page) == message.alternatives[0].content
    text = re.search(r'<pre class="email-text">(.*?)</pre>', page, re.S).group(1)
    assert html.unescape(text) == message.body


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        "<iframe src=https://evil.example></iframe>",
    ],
)
def test_hostile_markup_never_reaches_the_preview_as_markup(editor, body):
    sequence, owner, _member = editor

    response = preview(client_of(owner), sequence.campaign, subject="Hi", body=body)

    assert response.status_code == 200
    page = response.content.decode()
    document = srcdoc_of(page)
    tags = Tags()
    tags.feed(document)
    assert not tags.names & {"script", "img", "iframe", "object", "embed", "form"}
    assert not [name for name, _value in tags.attributes if name.startswith("on")]
    assert not [v for n, v in tags.attributes if n in ("href", "src") and "javascript" in v]
    # Outside the (escaped) srcdoc, the page holds the one iframe and no script at all.
    assert "<script" not in page
    assert page.count("<iframe") == 1


@pytest.mark.parametrize(("htmx", "status"), [(False, 422), (True, 200)])
def test_a_template_error_shows_in_place_of_the_preview(editor, htmx, status):
    sequence, owner, _member = editor
    bad = {"subject": "{nope}", "body": "{{ settings.SECRET_KEY }}"}

    response = preview(client_of(owner), sequence.campaign, htmx=htmx, **bad)

    # htmx swaps only a 2xx, and a browser logs any 4xx as a console error.
    assert response.status_code == status
    page = response.content.decode()
    assert "<iframe" not in page
    assert 'role="alert"' in page
    assert "Subject: Unknown placeholder {nope}." in html.unescape(page)
    assert "Body: Template tags and {{ … }} variables are not allowed." in html.unescape(page)


def test_the_preview_needs_the_csrf_token_and_an_owner(editor):
    sequence, owner, member = editor

    without_token = preview(client_of(owner, enforce_csrf_checks=True), sequence.campaign)
    by_member = preview(client_of(member), sequence.campaign, subject="Hi", body="Hi")

    assert without_token.status_code == 403
    assert by_member.status_code == 403


def test_the_step_editor_posts_to_the_preview_with_htmx(editor):
    sequence, owner, _member = editor
    step = sequence.steps[0]
    client = client_of(owner)
    url = reverse("campaign-step-live-preview", kwargs={"campaign_id": sequence.campaign.pk})

    pages = [
        client.get(reverse("campaign-sequence", kwargs={"campaign_id": sequence.campaign.pk})),
        client.get(
            reverse(
                "campaign-step-edit",
                kwargs={"campaign_id": sequence.campaign.pk, "step_id": step.pk},
            )
        ),
    ]

    for page in pages:
        text = page.content.decode()
        assert f'hx-post="{url}"' in text
        assert 'hx-trigger="load, input delay:400ms from:closest form"' in text
        assert 'id="step-live-preview"' in text
    assert 'name="delay_value" value="0"' in pages[1].content.decode()


def test_send_me_a_test_sends_both_parts(editor, smtp):  # noqa: F811
    sequence, owner, _member = editor
    step = sequence.steps[0]

    response = client_of(owner).post(
        reverse(
            "campaign-step-test",
            kwargs={"campaign_id": sequence.campaign.pk, "step_id": step.pk},
        )
    )

    assert response.status_code == 302
    (received,) = smtp.received
    assert received.to == owner.email
    raw = received.raw
    assert re.search(rb"^Content-Type: multipart/alternative;", raw, re.M)
    assert raw.count(b"Content-Type: text/plain") == 1
    assert raw.count(b"Content-Type: text/html") == 1
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    markup = parsed.get_body(preferencelist=("html",)).get_content()
    assert "Step 1 about Contoso CRM." in text
    assert "<p>Step 1 about Contoso CRM.</p>" in markup
    assert str(parsed["Subject"]).startswith("[Test] Step 1: hello ")
