"""Working leads in a real browser, in English and Spanish: bulk assign from the list, the
owner and the next step on the lead page, a note, the timeline, "My leads" with its
overdue step, and merging two leads of one person, then Undo.

With DOCS_SCREENSHOTS=1 the screenshots that docs/portal.md shows are written to docs/img/
(commit them), else beside the other screenshots, so that an ordinary run leaves the tree
alone. Every page is checked for console errors and CSP violations at teardown.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead, LeadMerge, LeadNote
from portal.tenancy.models import Membership
from tests import factories
from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.django_db(transaction=True)

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
SHOTS = DOCS_IMG if os.environ.get("DOCS_SCREENSHOTS") else ARTIFACTS
TIMEOUT_MS = 15_000
PASSWORD = "correct horse battery staple"

WORDS = {
    "en": {"overdue": "Overdue", "merged": "Merged from", "timeline": "Timeline"},
    "es": {"overdue": "Vencido", "merged": "Fusionado desde", "timeline": "Cronología"},
}


def shot(page, selector: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_member_works_leads_from_assign_to_merge_and_undo(watched_in, lang):
    words = WORDS[lang]
    owner_membership = factories.make_membership()
    publisher = owner_membership.publisher
    owner = owner_membership.user
    colleague = factories.make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    ada = factories.make_lead(publisher=publisher, email="ada@contoso.example", phone="")
    other = factories.make_lead(
        publisher=publisher, email="ada.lovelace@mail.example", phone="+44 20 7946 0000"
    )
    factories.make_activity(lead=ada)
    factories.make_activity(lead=other, action_code="PLT")
    watched = watched_in("es-ES" if lang == "es" else "en-US")
    page = watched.page
    log_in(watched, owner.username, PASSWORD)

    # Bulk assign from the list: tick both leads and give them to the colleague.
    page.goto("/leads/")
    page.locator(f"input[name='lead'][value='{ada.uuid}']").check()
    page.locator(f"input[name='lead'][value='{other.uuid}']").check()
    page.locator(".bulk-assign select[name='owner']").select_option(str(colleague.pk))
    page.locator("button[name='action'][value='assign']").click()
    expect(page.locator(".messages")).to_be_visible(timeout=TIMEOUT_MS)
    assert set(Lead.objects.filter(owner=colleague).values_list("pk", flat=True)) == {
        ada.pk,
        other.pk,
    }
    shot(page, ".bulk-assign", f"working-bulk-assign-{lang}")

    # The owner filter shows the colleague's leads.
    page.goto(f"/leads/?owner={colleague.pk}")
    expect(page.locator(".lead-table tbody tr")).to_have_count(2)

    # On the lead page: take the lead, set an overdue next step, write a note.
    page.goto(f"/leads/{ada.uuid}/")
    page.locator("#work select[name='owner']").select_option(str(owner.pk))
    page.locator("#work form[action$='/owner/'] button[type='submit']").click()
    expect(page.locator("#work select[name='owner']")).to_have_value(str(owner.pk))
    yesterday = timezone.localdate() - timedelta(days=1)
    page.locator("#work input[name='next_step']").fill("Send the quote")
    page.locator("#work input[name='next_step_due']").fill(yesterday.isoformat())
    page.locator("#work form[action$='/next-step/'] button[type='submit']").click()
    expect(page.locator("#work .badge-overdue")).to_have_text(words["overdue"])
    page.locator("#notes textarea[name='body']").fill("Called: wants a demo on Tuesday.")
    page.locator("#notes form[action$='/notes/'] button[type='submit']").click()
    expect(page.locator("#notes .note")).to_contain_text("Called: wants a demo on Tuesday.")
    assert LeadNote.objects.get().author_id == owner.pk
    # The timeline (loaded by htmx) mixes the note, the activity and more.
    expect(page.locator("#timeline .timeline-note")).to_contain_text("Called: wants a demo")
    expect(page.locator("#timeline-title")).to_have_text(words["timeline"])
    expect(page.locator("#timeline .timeline-activity")).to_have_count(1)
    shot(page, "#work", f"working-owner-next-step-{lang}")
    shot(page, "#notes", f"working-notes-{lang}")
    shot(page, "#timeline", f"working-timeline-{lang}")

    # "My leads": the overdue step comes first, flagged.
    page.goto("/leads/mine/")
    rows = page.locator(".my-leads tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@contoso.example")
    expect(rows.first.locator(".badge-overdue")).to_have_text(words["overdue"])
    shot(page, ".site-main", f"working-my-leads-{lang}")

    # Merge the other address into this lead: both histories on one page.
    page.goto(f"/leads/{ada.uuid}/")
    page.locator("#merges input[name='other_email']").fill("ada.lovelace@mail.example")
    page.locator("#merges form[action$='/merge/'] button[type='submit']").click()
    expect(page.locator("#merges .merge-record")).to_contain_text(words["merged"])
    expect(page.locator("#timeline .timeline-activity")).to_have_count(2, timeout=TIMEOUT_MS)
    assert Lead.objects.get(pk=other.pk).merged_into_id == ada.pk
    assert Lead.objects.get(pk=ada.pk).phone == "+44 20 7946 0000"
    shot(page, "#merges", f"working-merge-{lang}")
    page.goto("/leads/")
    expect(page.locator(".lead-table tbody tr")).to_have_count(1)

    # Undo: the other lead is back, as it was.
    page.goto(f"/leads/{ada.uuid}/")
    page.locator("#merges form[action$='/undo/'] button[type='submit']").click()
    expect(page.locator("#merges .merge-record")).to_have_count(0)
    assert Lead.objects.get(pk=other.pk).merged_into_id is None
    assert Lead.objects.get(pk=ada.pk).phone == ""
    assert LeadMerge.objects.get().undone_at is not None
    page.goto("/leads/")
    expect(page.locator(".lead-table tbody tr")).to_have_count(2)
