"""The portal's CRM pages: tenancy and roles."""

import pytest
from django.urls import reverse

from crm.models import Delivery
from portal.models import Membership
from tests.factories import (
    make_delivery,
    make_lead,
    make_membership,
    make_publisher,
    make_target,
    make_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, publisher):
    member = make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    client.force_login(member)
    return client


@pytest.fixture(params=[Membership.Role.OWNER, Membership.Role.MEMBER])
def outsider_client(request, client, other_publisher):
    """An owner, then a member, of another publisher."""
    client.force_login(make_membership(publisher=other_publisher, role=request.param).user)
    return client


# --- Tenancy and roles -------------------------------------------------------------------------


@pytest.fixture
def foreign(publisher):
    """Publisher A's target and delivery."""
    target = make_target(publisher=publisher, name="A-secret-target")
    delivery = make_delivery(
        lead=make_lead(publisher=publisher, first_name="Alice", last_name="A-lead"),
        target=target,
        status="failed",
    )
    Delivery.objects.create(target=target, event="test", status="failed", last_status_code=500)
    return target, delivery


def _object_routes(target, delivery):
    test = Delivery.objects.get(target=target, event="test")
    return [
        ("get", reverse("crm-target-detail", args=[target.pk])),
        ("post", reverse("crm-target-detail", args=[target.pk])),
        ("post", reverse("crm-target-test", args=[target.pk])),
        ("get", reverse("crm-target-test-result", args=[target.pk, test.pk])),
        ("post", reverse("crm-target-pause", args=[target.pk])),
        ("post", reverse("crm-target-resume", args=[target.pk])),
        ("post", reverse("crm-target-rotate-secret", args=[target.pk])),
        ("post", reverse("crm-target-finish-rotation", args=[target.pk])),
        ("post", reverse("crm-delivery-redeliver", args=[delivery.pk])),
    ]


def test_another_publisher_gets_404_on_every_object_route(outsider_client, foreign):
    # Given publisher A's target and delivery, and B's owner signed in
    target, delivery = foreign

    # When B's owner tries every object route
    answers = {
        url: getattr(outsider_client, method)(url).status_code
        for method, url in _object_routes(*foreign)
    }

    # Then each answers 404, and nothing changed
    assert set(answers.values()) == {404}
    delivery.refresh_from_db()
    target.refresh_from_db()
    assert (delivery.status, target.is_active) == ("failed", True)
    assert Delivery.objects.filter(event="test").count() == 1  # the one A had


def test_another_publisher_sees_none_of_a_rows(outsider_client, foreign):
    # When B's owner opens the lists, even filtered by A's target or lead
    target, delivery = foreign
    pages = [
        outsider_client.get(reverse("crm-targets")),
        outsider_client.get(reverse("crm-deliveries")),
        outsider_client.get(reverse("crm-deliveries"), {"target": target.pk}),
        outsider_client.get(reverse("crm-deliveries"), {"lead": str(delivery.lead.uuid)}),
    ]

    # Then none shows A's rows
    for response in pages:
        html = response.content.decode()
        assert "A-secret-target" not in html
        assert "A-lead" not in html
    assert pages[1].context["page"].rows == []


def test_members_see_but_cannot_write(member_client, foreign):
    # Given A's member signed in
    target, delivery = foreign

    # When the member views, then tries each write
    views = [
        reverse("crm-targets"),
        reverse("crm-target-detail", args=[target.pk]),
        reverse("crm-deliveries"),
    ]
    writes = [url for method, url in _object_routes(*foreign) if method == "post"]

    # Then pages render without owner controls, and every write is forbidden
    for url in views:
        response = member_client.get(url)
        assert response.status_code == 200
        assert "Redeliver" not in response.content.decode()
    for url in writes:
        assert member_client.post(url).status_code == 403, url
    assert member_client.get(reverse("crm-target-create")).status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == "failed"


def test_anonymous_users_are_sent_to_login(client, foreign):
    # When an anonymous visitor opens any CRM route
    target, delivery = foreign
    urls = [reverse("crm-targets"), reverse("crm-deliveries"), reverse("crm-target-create")]
    requests = [("get", url) for url in urls] + _object_routes(target, delivery)

    # Then each redirects to the login page
    for method, url in requests:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_a_user_of_two_publishers_sees_only_the_current_ones_targets(client, publisher):
    # Given a user who owns two publishers, each with a target
    user = make_user()
    second = make_publisher(name="Second")
    make_membership(user=user, publisher=publisher)
    make_membership(user=user, publisher=second)
    make_target(publisher=publisher, name="First target")
    make_target(publisher=second, name="Second target")
    client.force_login(user)

    # When the user switches to the second publisher
    client.post(reverse("switch-publisher"), {"publisher": second.pk})
    html = client.get(reverse("crm-targets")).content.decode()

    # Then only its target shows
    assert "Second target" in html
    assert "First target" not in html
