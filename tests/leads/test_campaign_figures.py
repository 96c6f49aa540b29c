"""The campaign page's email figures per step (sends, ESP events, clicks, suppressions) in a
constant number of queries, and campaign figures that agree between dashboard and campaign page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.campaigns.selectors import campaign_email_totals, campaign_step_figures
from leads.models import EmailEvent, EmailSend, Lead
from leads.nurture import send as nurture_send
from leads.nurture import services as nurture
from leads.nurture.events import email_event_record
from leads.reporting import rollup
from tests import factories
from tests.leads.nurture_support import Sequence, make_owner_and_member, smtp  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Kind = EmailEvent.Kind

FIGURES = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")


def event(send: EmailSend, kind: str, n: int, esp: str = "postmark") -> None:
    email_event_record(
        esp=esp, event_id=f"{kind}-{send.pk}-{n}", kind=kind, message_id=send.message_id
    )


def figures_of(rows) -> list[tuple]:
    return [tuple(getattr(row, name) for name in FIGURES) for row in rows]


@pytest.fixture
def sent_twice(smtp):  # noqa: F811
    """Four leads got step 1; three of them did something with it; one got step 2."""
    with time_machine.travel(T0, tick=False) as clock:
        sequence = Sequence(delays=(0, 24, 48))
        leads = sequence.leads(4)
        sequence.enrol(leads)
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 4
        first = {s.enrollment.lead_id: s for s in EmailSend.objects.select_related("enrollment")}
        engaged, complainer, leaver, bouncer = (first[lead.pk] for lead in leads)
        for send in (engaged, complainer, leaver):
            event(send, Kind.DELIVERED, 1)
        event(engaged, Kind.OPENED, 1)
        event(engaged, Kind.OPENED, 2)  # a second open of the same message counts once
        event(complainer, Kind.OPENED, 1)
        event(engaged, Kind.CLICKED, 1, esp="portal")
        event(engaged, Kind.CLICKED, 2, esp="portal")
        event(complainer, Kind.COMPLAINED, 1)
        event(leaver, Kind.UNSUBSCRIBED, 1)
        event(bouncer, Kind.BOUNCED, 1)
        Lead.objects.filter(pk=leads[0].pk).update(qualified_at=T0 + timedelta(hours=1))

        clock.shift(timedelta(hours=24))
        # Only the engaged lead is still reachable: the others are suppressed.
        assert nurture_send.nurture_send_due(budget_seconds=60).sent == 1
    return sequence


def test_each_step_counts_sends_events_clicks_and_suppressions(sent_twice):
    rows = campaign_step_figures(campaign=sent_twice.campaign)

    assert figures_of(rows) == [(4, 3, 2, 1, 1, 1, 1), (1, 0, 0, 0, 0, 0, 0), (0,) * 7]
    assert [(r.qualified_after, r.qualified_rate) for r in rows] == [
        (1, 25.0),
        (0, 0.0),
        (0, None),
    ]
    totals = campaign_email_totals(campaign_ids=[sent_twice.campaign.pk])
    assert tuple(totals[sent_twice.campaign.pk][name] for name in FIGURES) == (
        5, 3, 2, 1, 1, 1, 1,
    )  # fmt: skip


def test_the_campaign_page_shows_every_figure_per_step(sent_twice):
    _owner, member = make_owner_and_member(sent_twice.publisher)
    client = Client()
    client.force_login(member)

    page = client.get(reverse("campaign-detail", kwargs={"campaign_id": sent_twice.campaign.pk}))

    html = page.content.decode()
    for header in ("Sent", "Delivered", "Opened", "Clicked", "Bounced", "Complained"):
        assert f'<th scope="col" class="numeric">{header}</th>' in html
    first_row = html.split('<th scope="row">1</th>')[1].split("</tr>")[0]
    cells = dict(re.findall(r'data-figure="([a-z-]+)">([^<]*)<', first_row))
    assert cells == {
        "sent": "4",
        "delivered": "3",
        "opened": "2",
        "clicked": "1",
        "bounced": "1",
        "complained": "1",
        "unsubscribed": "1",
        "deferred": "0",
        "qualified-after": "1 (25.0%)",
    }


def test_the_figures_cost_the_same_queries_for_3_or_12_steps(
    sent_twice, django_assert_max_num_queries
):
    campaign = sent_twice.campaign
    _owner, member = make_owner_and_member(sent_twice.publisher)
    client = Client()
    client.force_login(member)
    url = reverse("campaign-detail", kwargs={"campaign_id": campaign.pk})
    client.get(url)  # session and caches warm
    with CaptureQueriesContext(connection) as three_steps:
        client.get(url)

    for n in range(9):
        nurture.step_save(
            campaign=campaign, step=None, delay_minutes=n, subject=f"More {n}", body="Hi"
        )

    with django_assert_max_num_queries(2):
        assert len(campaign_step_figures(campaign=campaign)) == 12
    with django_assert_max_num_queries(len(three_steps)):
        page = client.get(url)
    assert page.content.decode().count('data-figure="sent"') == 12


def test_dashboard_and_campaign_page_show_the_same_campaign_figures(publisher, owner):
    # Given leads that the rollup's last-touch credit and the page's any-touch attribution
    # would count differently: one touched by "Spring" and then by "Summer"
    listing = factories.make_listing(publisher=publisher, name="Contoso CRM")
    spring = factories.make_campaign(
        publisher=publisher, name="Spring", status="active", goal_qualified_leads=4
    )
    summer = factories.make_campaign(
        publisher=publisher,
        name="Summer",
        status="active",
        goal_qualified_leads=2,
        starts_on=spring.starts_on + timedelta(days=30),
    )
    now = timezone.now()
    both = factories.make_lead(publisher=publisher, status="qualified", latest_campaign=summer)
    spring_only = factories.make_lead(publisher=publisher, status="won", latest_campaign=spring)
    disqualified_later = factories.make_lead(publisher=publisher, status="disqualified")
    not_yet = factories.make_lead(publisher=publisher, status="new")
    test_lead = factories.make_lead(publisher=publisher, status="qualified", is_test=True)
    Lead.objects.filter(pk__in=[both.pk, spring_only.pk, disqualified_later.pk]).update(
        qualified_at=now - timedelta(days=1)
    )
    for lead, campaign in [
        (both, spring),
        (both, summer),
        (spring_only, spring),
        (disqualified_later, spring),
        (not_yet, spring),
        (test_lead, spring),
    ]:
        factories.make_activity(
            lead=lead, listing=listing, campaign=campaign, occurred_at=now - timedelta(days=2)
        )
    rollup.rollup_backfill(days=90)
    client = Client()
    client.force_login(owner)

    # When both pages are read
    dashboard = client.get(reverse("home"))
    pages = {
        campaign.pk: client.get(reverse("campaign-detail", kwargs={"campaign_id": campaign.pk}))
        for campaign in (spring, summer)
    }

    # Then each campaign's qualified leads, goal and progress are the same on both
    rows = {row["id"]: row for row in dashboard.context["campaigns"]}
    assert {pk: (r["qualified"], r["goal"], r["percent"]) for pk, r in rows.items()} == {
        spring.pk: (3, 4, 75),
        summer.pk: (1, 2, 50),
    }
    for pk, page in pages.items():
        funnel = page.context["funnel"]
        assert (funnel.qualified, funnel.goal, funnel.goal_percent) == (
            rows[pk]["qualified"],
            rows[pk]["goal"],
            rows[pk]["percent"],
        )
        row = rows[pk]
        assert (
            f"{row['qualified']} of {row['goal']} qualified leads ({row['percent']}%)"
            in page.content.decode()
        )
    html = dashboard.content.decode()
    for row in rows.values():
        assert f'<td class="numeric">{row["qualified"]}</td>' in html
        assert f'<td class="numeric">{row["percent"]} %</td>' in html
