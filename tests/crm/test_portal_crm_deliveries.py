"""The portal's CRM pages: the daily cap, pause and resume, redelivery and the deliveries list."""

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from crm.models import Delivery
from tests.factories import make_delivery, make_lead, make_target

pytestmark = pytest.mark.django_db


# --- The daily cap ------------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "is_near"), [(399, False), (400, True)])
def test_salesforce_daily_cap_warns_when_near(owner_client, publisher, sent, is_near):
    # Given a Salesforce target with `sent` leads delivered in the last 24 hours
    target = make_target(
        publisher=publisher, kind="salesforce", config={"objectIdentifier": "00D5g000004ABCD"}
    )
    lead = make_lead(publisher=publisher)
    now = timezone.now()
    Delivery.objects.bulk_create(
        Delivery(
            lead=lead, target=target, event="lead.updated", status="delivered", delivered_at=now
        )
        for _ in range(sent)
    )

    # When the owner opens the target
    html = owner_client.get(reverse("crm-target-detail", args=[target.pk])).content.decode()

    # Then it shows the use of the cap, and warns from 80 %
    assert f"{sent} of 500 sent in the last 24 h." in html
    assert ("The daily cap is near." in html) is is_near


# --- Pause, resume, redeliver ----------------------------------------------------------------


def test_pause_and_resume(owner_client, publisher, django_capture_on_commit_callbacks):
    # Given an active target
    target = make_target(publisher=publisher)

    # When the owner pauses it, then resumes it
    owner_client.post(reverse("crm-target-pause", args=[target.pk]))
    target.refresh_from_db()
    paused = target.is_active
    with django_capture_on_commit_callbacks():
        owner_client.post(reverse("crm-target-resume", args=[target.pk]))

    # Then it was paused, and is active again
    target.refresh_from_db()
    assert paused is False
    assert target.is_active is True


def test_redeliver_resets_a_failed_delivery_and_goes_back(owner_client, publisher):
    # Given a failed delivery
    target = make_target(publisher=publisher)
    delivery = make_delivery(
        lead=make_lead(publisher=publisher), target=target, status="failed", attempts=10
    )
    back = reverse("crm-target-detail", args=[target.pk]) + "?status=failed"

    # When the owner redelivers it from the target's log
    response = owner_client.post(
        reverse("crm-delivery-redeliver", args=[delivery.pk]), {"next": back}
    )

    # Then it is pending again from a fresh count, and the owner is back on the log
    delivery.refresh_from_db()
    assert response["Location"] == back
    assert (delivery.status, delivery.attempts) == ("pending", 0)


def test_redeliver_refuses_a_foreign_next_url(owner_client, publisher):
    # Given a delivered delivery
    delivery = make_delivery(
        lead=make_lead(publisher=publisher),
        target=make_target(publisher=publisher),
        status="delivered",
        delivered_at=timezone.now(),
    )

    # When the redeliver form names another site as next
    response = owner_client.post(
        reverse("crm-delivery-redeliver", args=[delivery.pk]), {"next": "https://evil.example/"}
    )

    # Then the owner goes to the deliveries list instead
    assert response["Location"] == reverse("crm-deliveries")


# --- Deliveries list ---------------------------------------------------------------------------


def test_deliveries_filter_by_status_error_and_lead(owner_client, publisher):
    # Given deliveries of two leads, one failed with an error
    target = make_target(publisher=publisher, name="Flow")
    ada = make_lead(publisher=publisher, first_name="Ada", last_name="One")
    bob = make_lead(publisher=publisher, first_name="Bob", last_name="Two")
    make_delivery(lead=ada, target=target, status="failed", last_error="HTTP 500 from flow")
    make_delivery(lead=bob, target=target)

    # When the owner filters
    def names(**query):
        response = owner_client.get(reverse("crm-deliveries"), query)
        return [str(row.lead) for row in response.context["page"].rows]

    # Then each filter narrows the rows
    assert names() == ["Bob Two", "Ada One"]
    assert names(status="failed") == ["Ada One"]
    assert names(has_error="no") == ["Bob Two"]
    assert names(lead=str(bob.uuid)) == ["Bob Two"]
    assert names(target=target.pk, event="lead.qualified") == ["Bob Two", "Ada One"]


def test_deliveries_paginate_by_keyset(owner_client, publisher, monkeypatch):
    # Given five deliveries and pages of two
    monkeypatch.setattr("crm.selectors.DELIVERY_PAGE_SIZE", 2)
    target = make_target(publisher=publisher)
    made = [make_delivery(lead=make_lead(publisher=publisher), target=target) for _ in range(5)]

    # When the owner walks the pages
    seen, query = [], {}
    while True:
        response = owner_client.get(reverse("crm-deliveries"), query)
        seen += [row.pk for row in response.context["page"].rows]
        if not response.context["next_query"]:
            break
        query = QueryDict(response.context["next_query"]).dict()

    # Then every delivery appears once, newest first
    assert seen == [delivery.pk for delivery in reversed(made)]


@pytest.mark.sqlite  # there, one query over every target (no LIMIT in a UNION's parts)
def test_deliveries_of_several_targets_paginate_in_one_order(owner_client, publisher, monkeypatch):
    # Given deliveries of three targets interleaved in time, two of them at the same moment,
    # and another publisher's delivery
    monkeypatch.setattr("crm.selectors.DELIVERY_PAGE_SIZE", 2)
    targets = [make_target(publisher=publisher) for _ in range(3)]
    start = timezone.now() - timezone.timedelta(hours=1)
    moments = [0, 1, 2, 2, 3, 4, 5, 6]
    made = [
        make_delivery(lead=make_lead(publisher=publisher), target=targets[index % 3])
        for index in range(len(moments))
    ]
    for delivery, minutes in zip(made, moments, strict=True):
        Delivery.objects.filter(pk=delivery.pk).update(
            created_at=start + timezone.timedelta(minutes=minutes)
        )
    make_delivery()

    # When the owner walks every page, then the failed ones of every target
    def walk(**filters):
        seen, query = [], dict(filters)
        while True:
            response = owner_client.get(reverse("crm-deliveries"), query)
            seen += [row.pk for row in response.context["page"].rows]
            if not response.context["next_query"]:
                return seen
            query = QueryDict(response.context["next_query"]).dict()

    newest_first = sorted(made, key=lambda d: (moments[made.index(d)], d.pk), reverse=True)
    Delivery.objects.filter(pk__in=[made[1].pk, made[5].pk]).update(status="failed")

    # Then each delivery of the publisher appears once, newest first, across the targets
    assert walk() == [delivery.pk for delivery in newest_first]
    assert walk(status="failed") == [made[5].pk, made[1].pk]


def _seed_targets(publisher, count):
    for _ in range(count):
        target = make_target(publisher=publisher)
        make_delivery(lead=make_lead(publisher=publisher), target=target)


def test_target_list_queries_stay_constant(owner_client, publisher, django_assert_max_num_queries):
    # Given one target, then six
    _seed_targets(publisher, 1)
    owner_client.get(reverse("crm-targets"))  # warm the session
    with django_assert_max_num_queries(6) as few:
        owner_client.get(reverse("crm-targets"))
    _seed_targets(publisher, 5)

    # When the owner lists them again
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = owner_client.get(reverse("crm-targets"))

    # Then the count is the same
    assert len(response.context["targets"]) == 6


def test_delivery_list_queries_stay_constant(
    owner_client, publisher, django_assert_max_num_queries
):
    # Given one delivery, then twenty more over several targets
    _seed_targets(publisher, 1)
    owner_client.get(reverse("crm-deliveries"))
    with django_assert_max_num_queries(8) as few:
        owner_client.get(reverse("crm-deliveries"))
    _seed_targets(publisher, 20)

    # When the owner lists the deliveries again
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = owner_client.get(reverse("crm-deliveries"))

    # Then the count is the same
    assert len(response.context["page"].rows) == 21
