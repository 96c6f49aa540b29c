"""Markdown steps: a sanitised HTML part and a text part from one source (docs/email.md)."""

import email
import email.policy
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.db.models import F

from leads.models import Lead, NurtureStep
from leads.nurture import render
from leads.nurture import send as nurture_send
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
URL = "https://portal.test/unsubscribe/abc/"
PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '" onmouseover="alert(1)',
    "javascript:alert(1)",
]
BODY = (
    "Hi **{first_name}**,\n\n"
    "A word about *{offer_title}*:\nsee [our site](https://contoso.example/crm).\n\n"
    "- fast\n- safe\n\n"
    "<script>alert('body')</script> <b onclick=x>raw</b> [bad](javascript:alert(2)) "
    "[by company]({company})\n\n"
    "[Unsubscribe]({unsubscribe_url}) or {unsubscribe_url}"
)


def values(payload: str) -> dict[str, str]:
    return {
        "first_name": payload,
        "last_name": payload,
        "company": payload,
        "title": payload,
        "offer_title": "Contoso CRM",
        "publisher_name": "Contoso",
        "unsubscribe_url": URL,
    }


def assert_inert(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "javascript:" not in re.sub(
        r"&[a-z]+;|&#\d+;", "", " ".join(re.findall(r'href="[^"]*"', lowered))
    )
    assert not re.search(r"<[^>]+\son[a-z]+=", lowered)  # no event handler attribute
    assert "<b " not in lowered


def test_markdown_renders_to_structure_and_a_link():
    html = render.render_html_body(BODY, values("Zoë"))
    assert "<strong>Zoë</strong>" in html
    assert "<em>Contoso CRM</em>" in html
    assert "<ul>\n<li>fast</li>\n<li>safe</li>\n</ul>" in html
    assert 'href="https://contoso.example/crm"' in html
    assert f'<a href="{URL}"' in html and f">{URL}</a>" in html
    assert "<br" in html  # a single line break stays a break


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_values_and_body_are_inert(payload):
    html = render.render_html_body(BODY, values(payload))
    assert_inert(html)
    assert "&lt;script&gt;" in html  # the body's own script tag shows as text
    assert '<a rel="noopener noreferrer">by company</a>' in html  # no address from a value


def test_a_value_cannot_forge_a_placeholder_sentinel():
    html = render.render_html_body("{first_name} {company}", values("ph0000x1x"))
    assert html.count("ph0000x1x") == 2


def test_the_text_part_comes_from_the_same_source():
    text = render.render_text_body(BODY, values("<Zoë>"))
    assert text.startswith("Hi **<Zoë>**,")
    assert "see our site (https://contoso.example/crm)." in text
    assert f"Unsubscribe ({URL}) or {URL}" in text


def test_the_received_message_has_both_parts_and_inert_payloads(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        sequence = Sequence(delays=(0,))
        NurtureStep.objects.filter(pk=sequence.steps[0].pk).update(body=BODY)
        leads = sequence.leads(len(PAYLOADS))
        for lead, payload in zip(leads, PAYLOADS, strict=True):
            Lead.objects.filter(pk=lead.pk).update(first_name=payload, company=F("first_name"))
        sequence.enrol(leads)
        nurture_send.nurture_send_due(budget_seconds=120)

    assert len(smtp.received) == len(PAYLOADS)
    for received in smtp.received:
        parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
        assert parsed.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
        html = parsed.get_body(("html",)).get_content()
        assert_inert(html)
        assert "<strong>" in html and "<ul>" in html
        assert "Contoso" in html  # the template's publisher name and postal address
        assert "Redmond, WA 98052" in html
        assert re.search(r'<html lang="[a-z-]+">', html)  # screen readers pick the language
        text = parsed.get_body(("plain",)).get_content()
        assert "see our site (https://contoso.example/crm)." in text
        # The HTML part's raw bytes carry no live script either
        html_raw = received.raw.lower().split(b"content-type: text/html", 1)[1]
        assert b"<script" not in html_raw and b"<img" not in html_raw
