"""The portal's CRM pages: targets, the test lead, secrets, pause/resume, deliveries."""

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from portal.models import Membership
from tests.factories import (
    make_delivery,
    make_lead,
    make_listing,
    make_membership,
    make_publisher,
    make_target,
    make_user,
)

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


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


# --- Pages ---------------------------------------------------------------------------------


def test_target_pages_render_for_the_owner(owner_client, publisher):
    # Given a target with a delivery
    target = make_target(publisher=publisher, name="Contoso flow")
    make_delivery(lead=make_lead(publisher=publisher), target=target)

    # When the owner opens the list, the detail, the kind chooser, a form and the deliveries
    pages = [
        reverse("crm-targets"),
        reverse("crm-target-detail", args=[target.pk]),
        reverse("crm-target-create"),
        reverse("crm-target-create") + "?kind=dynamics365",
        reverse("crm-deliveries"),
    ]

    # Then each renders
    for url in pages:
        assert owner_client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    ("kind", "where"),
    [
        ("dynamics365", "App registrations → your app → Overview: Application (client) ID"),
        ("salesforce", "Company Information → Salesforce.com Organization ID"),
        ("marketo", "Integration → Web Services → REST API Endpoint"),
        ("azure-table", "Storage account → Security + networking → Access keys"),
    ],
)
def test_each_kind_form_says_where_to_find_its_values(owner_client, kind, where):
    # When the owner opens the form of a kind
    response = owner_client.get(reverse("crm-target-create") + f"?kind={kind}")

    # Then it tells where the value lives in that CRM
    assert where in response.content.decode()


# --- Create --------------------------------------------------------------------------------


def test_creating_an_https_target_generates_a_secret_shown_once(owner_client, publisher):
    # When the owner creates an HTTPS target
    response = owner_client.post(
        reverse("crm-target-create") + "?kind=https",
        {"name": "Flow", "scope": "all", "config_httpsEndpointUrl": "https://crm.example/hook"},
    )

    # Then the target has a generated secret, shown on the next page and never again
    target = CrmTarget.objects.get(publisher=publisher)
    secret = target.config["signingSecret"]
    assert secret.startswith("whsec_")
    assert len(secret) == len("whsec_") + 44
    assert response["Location"] == reverse("crm-target-detail", args=[target.pk])
    assert secret in owner_client.get(response["Location"]).content.decode()
    assert secret not in owner_client.get(response["Location"]).content.decode()
    assert target.config["httpsEndpointUrl"] == "https://crm.example/hook"
    assert target.verified_at is None


@pytest.mark.parametrize(
    ("kind", "data", "secret_key"),
    [
        (
            "dynamics365",
            {
                "config_instanceUrl": "https://contoso.crm.dynamics.com",
                "config_directoryId": "11111111-2222-3333-4444-555555555555",
                "config_applicationId": "66666666-7777-8888-9999-000000000000",
                "config_applicationKey": "s3cr3t-app-key",
            },
            "applicationKey",
        ),
        ("salesforce", {"config_objectIdentifier": "00D5g000004ABCD"}, None),
        (
            "marketo",
            {
                "config_munchkinId": "123-abc-456",
                "config_clientId": "client",
                "config_clientSecret": "s3cr3t-client",
            },
            "clientSecret",
        ),
        (
            "azure-table",
            {
                # Checked at save like a URL: a well-formed string (loopback is allowed here)
                "config_storageAccountConnectionString": (
                    "AccountName=acct;AccountKey=s3cr3t;TableEndpoint=https://127.0.0.1/acct"
                )
            },
            "storageAccountConnectionString",
        ),
    ],
)
def test_creating_a_target_of_each_kind(owner_client, publisher, kind, data, secret_key):
    # When the owner creates a target of the kind
    response = owner_client.post(
        reverse("crm-target-create") + f"?kind={kind}",
        {"name": f"My {kind}", "scope": "all", "extra_fields": "campaignId = 7014x", **data},
    )

    # Then it is stored with its config and kind defaults, and no page echoes the secret
    target = CrmTarget.objects.get(publisher=publisher)
    assert response.status_code == 302
    assert (target.kind, target.name, target.extra_fields) == (
        kind,
        f"My {kind}",
        {"campaignId": "7014x"},
    )
    assert target.rate_limit == CrmTarget.PROFILES[kind].rate_limit
    page = owner_client.get(response["Location"]).content.decode()
    if secret_key:
        assert target.config[secret_key] == data[f"config_{secret_key}"]
        assert "s3cr3t" not in page
        assert "Stored: set." in page


def test_an_invalid_value_is_shown_next_to_its_field(owner_client, publisher):
    # When the owner posts a malformed Salesforce org id and a bad extra field
    response = owner_client.post(
        reverse("crm-target-create") + "?kind=salesforce",
        {
            "name": "SF",
            "scope": "all",
            "config_objectIdentifier": "12345",
            "extra_fields": "1x = y",
        },
    )

    # Then nothing is created and each error sits next to its field
    html = response.content.decode()
    assert response.status_code == 200
    assert CrmTarget.objects.count() == 0
    assert 'id="id_config_objectIdentifier_error"' in html
    assert (
        'aria-describedby="id_config_objectIdentifier_helptext id_config_objectIdentifier_error"'
        in html
    )
    assert "Line 1: write key = value" in html


def test_extra_fields_are_limited_to_twenty(owner_client):
    # When the owner posts 21 extra fields
    lines = "\n".join(f"field{n} = value" for n in range(21))
    response = owner_client.post(
        reverse("crm-target-create") + "?kind=salesforce",
        {
            "name": "SF",
            "scope": "all",
            "config_objectIdentifier": "00D5g000004ABCD",
            "extra_fields": lines,
        },
    )

    # Then it is refused
    assert "At most 20 extra fields." in response.content.decode()
    assert CrmTarget.objects.count() == 0


def test_scope_offers_only_the_publishers_listings(owner_client, publisher, other_publisher):
    # Given a listing of each publisher
    mine = make_listing(publisher=publisher, name="Mine")
    theirs = make_listing(publisher=other_publisher, name="Theirs")

    # When the owner chooses the other publisher's listing
    response = owner_client.post(
        reverse("crm-target-create") + "?kind=salesforce",
        {
            "name": "SF",
            "scope": "chosen",
            "listings": [theirs.pk],
            "config_objectIdentifier": "00D5g000004ABCD",
        },
    )

    # Then it is refused; with its own listing it is kept
    assert CrmTarget.objects.count() == 0
    assert "Theirs" not in response.content.decode()
    owner_client.post(
        reverse("crm-target-create") + "?kind=salesforce",
        {
            "name": "SF",
            "scope": "chosen",
            "listings": [mine.pk],
            "config_objectIdentifier": "00D5g000004ABCD",
        },
    )
    assert list(CrmTarget.objects.get().listings.all()) == [mine]


# --- Edit ----------------------------------------------------------------------------------


def _edit_data(target, **config):
    data = {"name": target.name, "scope": "all", "extra_fields": ""}
    data.update({f"config_{key}": value for key, value in config.items()})
    return data


def test_a_config_change_clears_verified(owner_client, publisher):
    # Given a verified Salesforce target
    target = make_target(
        publisher=publisher,
        kind="salesforce",
        config={"objectIdentifier": "00D5g000004ABCD"},
        verified_at=timezone.now(),
    )
    url = reverse("crm-target-detail", args=[target.pk])

    # When the owner saves it unchanged, then with another org id
    owner_client.post(url, _edit_data(target, objectIdentifier="00D5g000004ABCD"))
    target.refresh_from_db()
    still_verified = target.verified_at is not None
    owner_client.post(url, _edit_data(target, objectIdentifier="00D5g000009WXYZ"))

    # Then only the change unverifies it
    target.refresh_from_db()
    assert still_verified is True
    assert target.verified_at is None
    assert target.config == {"objectIdentifier": "00D5g000009WXYZ"}


def test_a_blank_secret_keeps_the_stored_one(owner_client, publisher):
    # Given a Marketo target with a secret
    config = {"munchkinId": "123-ABC-456", "clientId": "c", "clientSecret": "keep-me"}
    target = make_target(
        publisher=publisher, kind="marketo", config=config, verified_at=timezone.now()
    )

    # When the owner saves the form with the secret left blank
    response = owner_client.post(
        reverse("crm-target-detail", args=[target.pk]),
        _edit_data(target, munchkinId="123-ABC-456", clientId="c", clientSecret=""),
    )

    # Then the secret stays, and the target stays verified
    target.refresh_from_db()
    assert response.status_code == 302
    assert target.config["clientSecret"] == "keep-me"
    assert target.verified_at is not None


def test_rotating_the_secret_keeps_both_until_finished(owner_client, publisher):
    # Given an HTTPS target
    target = make_target(publisher=publisher, verified_at=timezone.now())
    old = target.config["signingSecret"]

    # When the owner rotates its secret
    response = owner_client.post(reverse("crm-target-rotate-secret", args=[target.pk]))
    target.refresh_from_db()
    new, kept = target.config["signingSecret"]

    # Then both sign, the new one is shown once; finishing keeps only the new one
    assert kept == old
    assert new.startswith("whsec_") and new != old
    assert new in owner_client.get(response["Location"]).content.decode()
    owner_client.post(reverse("crm-target-finish-rotation", args=[target.pk]))
    target.refresh_from_db()
    assert target.config["signingSecret"] == new
    assert target.verified_at is None


# --- Test lead: tests/crm/test_portal_test_lead.py ------------------------------------------


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
