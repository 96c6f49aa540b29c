"""The step editor's live preview in a real browser, in English and Spanish: typing the
subject and Markdown body updates both parts (htmx), the HTML part sits in a sandboxed
iframe where no script runs, and a template error shows in place of the preview.

With DOCS_SCREENSHOTS=1 the screenshots docs/portal.md links are written to docs/img/
(commit them), else beside the other screenshots, so an ordinary run leaves the tree alone.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in
from tests.leads.nurture_support import Sequence, make_owner_and_member

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000

WORDS = {
    "en-US": {"heading": "Live preview", "text": "Text part (with the footer)", "unit": "days"},
    "es-ES": {
        "heading": "Vista previa en directo",
        "text": "Parte de texto (con el pie)",
        "unit": "días",
    },
}


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_the_preview_follows_what_the_owner_types(watched_in, locale):
    sequence = Sequence(delays=(48,))
    owner, _member = make_owner_and_member(sequence.publisher)
    step = sequence.steps[0]
    watched = watched_in(locale)
    page = watched.page
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(watched, owner.username, "correct horse battery staple")

    page.goto(f"/campaigns/{sequence.campaign.pk}/sequence/steps/{step.pk}/")
    words = WORDS[locale]
    expect(page.get_by_role("heading", name=words["heading"])).to_be_visible()
    expect(page.locator("select[name='delay_unit'] option:checked")).to_have_text(words["unit"])
    preview = page.locator("#step-live-preview")
    frame = page.frame_locator("#step-live-preview iframe[sandbox='']")
    # The saved step, rendered on load for the sample lead.
    expect(frame.locator("body")).to_contain_text("Step 1 about Contoso CRM.", timeout=TIMEOUT_MS)

    # Typing updates the subject, the HTML part and the text part.
    page.locator("input[name='subject']").fill("Hello {first_name}")
    body = page.locator("textarea[name='body']")
    body.fill("Dear {first_name},\n\nNews for **{company}**:\n\n- faster\n- cheaper")
    expect(preview.locator(".live-subject")).to_have_text("Hello Ada", timeout=TIMEOUT_MS)
    expect(frame.locator("strong")).to_have_text("Analytical Engines Ltd", timeout=TIMEOUT_MS)
    expect(frame.locator("li")).to_have_count(2)
    expect(preview.get_by_role("heading", name=words["text"])).to_be_visible()
    expect(preview.locator("pre.email-text")).to_contain_text("News for **Analytical Engines Ltd**")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".step-form").screenshot(path=str(SHOTS / f"step-preview-{locale[:2]}.png"))

    # A script in the body is text, never run: no dialog, nothing but escaped text.
    body.fill('<script>alert("x")</script> <img src=x onerror=alert(1)> hi')
    expect(frame.locator("body")).to_contain_text('<script>alert("x")</script>', timeout=TIMEOUT_MS)
    expect(frame.locator("script, img")).to_have_count(0)
    assert watched.dialogs == []

    # A template error shows where the preview was, and the preview comes back once fixed.
    body.fill("Hi {nope}")
    expect(preview.get_by_role("alert")).to_contain_text("{nope}", timeout=TIMEOUT_MS)
    expect(preview.locator("iframe")).to_have_count(0)
    body.fill("Hi {first_name}")
    expect(frame.locator("body")).to_contain_text("Hi Ada", timeout=TIMEOUT_MS)
    watched.assert_clean()
