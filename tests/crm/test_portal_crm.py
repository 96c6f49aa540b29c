"""The portal's CRM target pages: list, create, edit and secrets."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import CrmTarget
from tests.factories import make_delivery, make_lead, make_listing, make_target

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


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


def test_the_https_form_gives_the_demo_receivers_address(owner_client):
    """A newcomer tries https:// against the plain-HTTP demo receiver."""
    https_form = owner_client.get(reverse("crm-target-create") + "?kind=https").text
    salesforce_form = owner_client.get(reverse("crm-target-create") + "?kind=salesforce").text

    assert "<code>http://testserver/demo/receiver/</code>" in https_form
    assert "demo-receiver-note" not in salesforce_form


def test_a_verified_target_without_a_kept_test_lead_does_not_say_none_was_sent(
    owner_client, publisher
):
    """Never "Verified" beside "No test lead sent yet"."""
    verified = make_target(publisher=publisher, verified_at=timezone.now())
    unverified = make_target(publisher=publisher, name="New one")

    verified_page = owner_client.get(reverse("crm-target-detail", args=[verified.pk])).text
    unverified_page = owner_client.get(reverse("crm-target-detail", args=[unverified.pk])).text

    assert "No test lead sent yet" not in verified_page
    assert "no test lead of this target is kept in the log any more" in verified_page
    assert "No test lead sent yet" in unverified_page


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


def test_the_owner_chooses_delete_as_the_erasure_mode_of_a_marketo_target(owner_client, publisher):
    # When the owner creates a Marketo target that deletes erased leads
    response = owner_client.post(
        reverse("crm-target-create") + "?kind=marketo",
        {
            "name": "Marketo",
            "scope": "all",
            "config_munchkinId": "123-ABC-456",
            "config_clientId": "client",
            "config_clientSecret": "s3cr3t",
            "erasure_mode": "delete",
        },
    )

    # Then the mode is stored and the target's page offers both modes, delete chosen
    target = CrmTarget.objects.get(publisher=publisher)
    assert (response.status_code, target.erasure_mode) == (302, "delete")
    page = owner_client.get(response["Location"]).content.decode()
    assert 'name="erasure_mode" value="delete" id="id_erasure_mode_1" checked' in page


@pytest.mark.parametrize(
    ("kind", "note"),
    [
        ("https", "the endpoint gets a signed lead.erased event"),
        ("salesforce", "Web-to-Lead cannot delete a lead"),
    ],
)
def test_a_kind_that_cannot_delete_offers_no_erasure_mode_and_says_why(owner_client, kind, note):
    page = owner_client.get(reverse("crm-target-create") + f"?kind={kind}").content.decode()

    assert 'name="erasure_mode"' not in page
    assert note in page


def test_the_deliveries_list_never_counts_the_outbox(owner_client, publisher):
    # Given a target with deliveries
    target = make_target(publisher=publisher)
    for n in range(3):
        make_delivery(target=target, lead=make_lead(publisher=publisher, email=f"d{n}@x.example"))

    # When the owner opens the deliveries list
    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get(reverse("crm-deliveries"))

    # Then the rows are shown, and no query aggregates the deliveries (the filter's target
    # choices once counted each target's deliveries: a scan of the whole outbox)
    assert response.status_code == 200
    assert len(response.context["page"].rows) == 3
    sql = [q["sql"] for q in queries.captured_queries]
    assert [q for q in sql if "COUNT(" in q and "crm_delivery" in q] == []
