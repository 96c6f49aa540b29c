"""The campaign page's figures per step: the rate of leads qualified after the email."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from leads.campaigns.selectors import campaign_step_figures
from leads.models import Lead
from leads.nurture import send as nurture_send
from tests.leads.nurture_support import Sequence, make_owner_and_member, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_qualified_rate_counts_leads_qualified_after_their_email(smtp):  # noqa: F811
    with time_machine.travel(T0, tick=False):
        sequence = Sequence(delays=(0, 24))
        leads = sequence.leads(3)
        sequence.enrol(leads)
        nurture_send.nurture_send_due(budget_seconds=120)
    # One lead qualified an hour after the email; one was qualified before it (not counted)
    Lead.objects.filter(pk=leads[0].pk).update(qualified_at=T0 + timedelta(hours=1))
    Lead.objects.filter(pk=leads[1].pk).update(qualified_at=T0 - timedelta(hours=1))

    figures = campaign_step_figures(campaign=sequence.campaign)

    assert [(f.sent, f.qualified_after, f.qualified_rate) for f in figures] == [
        (3, 1, 33.3),
        (0, 0, None),
    ]
    _owner, member = make_owner_and_member(sequence.publisher)
    client = Client()
    client.force_login(member)
    page = client.get(reverse("campaign-sequence", kwargs={"campaign_id": sequence.campaign.pk}))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Qualified after" in html
    assert "1 (33.3%)" in html
