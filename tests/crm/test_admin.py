"""CRM target form and admin (secrets never shown back), and the read-only Delivery log."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.forms import CrmTargetForm
from crm.models import CrmTarget, Delivery
from crm.targets import targets_pause, targets_resume
from tests import factories

pytestmark = pytest.mark.django_db

# A stored secret that must never appear in any page.
SENTINEL = "whsec_SENTINEL-c2VjcmV0LW5ldmVyLXNob3du"
NEW_SECRET = "whsec_bmV3LXNlY3JldC1uZXZlci1zaG93bg"


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def verified_target(publisher):
    return factories.make_target(
        publisher=publisher,
        config={"httpsEndpointUrl": "https://crm.example/leads", "signingSecret": SENTINEL},
        verified_at=timezone.now(),
    )


def _form_data(**overrides) -> dict:
    data = {
        "publisher": "",
        "kind": CrmTarget.Kind.HTTPS,
        "name": "Webhook",
        "scope": CrmTarget.Scope.ALL_LISTINGS,
        "is_active": "on",
        "rate_limit": "",
        "rate_period_seconds": "",
        "batch_size": "",
        "extra_fields": "{}",
    }
    return data | overrides


def _edit_data(target, **overrides) -> dict:
    current = {
        "publisher": str(target.publisher_id or ""),
        "name": target.name,
        "rate_limit": str(target.rate_limit),
        "rate_period_seconds": str(target.rate_period_seconds),
        "batch_size": str(target.batch_size),
        "config_httpsEndpointUrl": target.config.get("httpsEndpointUrl", ""),
        "config_signingSecret": "",
        "config_contactEmail": "",
    }
    return _form_data(**(current | overrides))


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- The form ---------------------------------------------------------------------------


def test_form_shows_non_secret_values_and_only_whether_a_secret_is_set(verified_target):
    # When the form for a target with a stored secret is rendered
    form = CrmTargetForm(instance=verified_target)
    html = str(form)

    # Then the URL is shown, the secret is not, and its help says it is set
    assert SENTINEL not in html
    assert 'value="https://crm.example/leads"' in html
    assert list(form.config_field_names) == [
        "config_httpsEndpointUrl",
        "config_signingSecret",
        "config_contactEmail",
    ]
    assert form.fields["config_signingSecret"].help_text == "set"
    assert form.fields["kind"].disabled is True


def test_form_says_not_set_for_a_missing_secret(publisher):
    target = factories.make_target(
        publisher=publisher, config={"httpsEndpointUrl": "https://crm.example/leads"}
    )

    form = CrmTargetForm(instance=target)

    assert form.fields["config_signingSecret"].help_text == "not set"


def test_form_never_echoes_a_typed_secret_when_it_is_redisplayed(verified_target):
    # Given a submission with a new secret but an invalid URL
    form = CrmTargetForm(
        _edit_data(
            verified_target,
            config_httpsEndpointUrl="ftp://crm.example/leads",
            config_signingSecret=NEW_SECRET,
        ),
        instance=verified_target,
    )

    # When the form is refused and shown again
    assert form.is_valid() is False
    html = str(form)

    # Then neither the typed nor the stored secret is in the page
    assert (NEW_SECRET in html, SENTINEL in html) == (False, False)


def test_blank_secret_keeps_the_stored_one(verified_target):
    # Given a change of the URL with the secret left blank
    form = CrmTargetForm(
        _edit_data(verified_target, config_httpsEndpointUrl="https://crm.example/v2"),
        instance=verified_target,
    )

    # When it is saved
    assert form.is_valid(), form.errors
    form.save()

    # Then the secret stays and the target, whose config changed, is no longer verified
    verified_target.refresh_from_db()
    assert verified_target.config == {
        "httpsEndpointUrl": "https://crm.example/v2",
        "signingSecret": SENTINEL,
    }
    assert verified_target.verified_at is None


def test_new_secret_replaces_the_stored_one_and_unverifies_the_target(verified_target):
    form = CrmTargetForm(
        _edit_data(verified_target, config_signingSecret=NEW_SECRET), instance=verified_target
    )

    assert form.is_valid(), form.errors
    form.save()

    verified_target.refresh_from_db()
    assert verified_target.config == {
        "httpsEndpointUrl": "https://crm.example/leads",
        "signingSecret": NEW_SECRET,
    }
    assert verified_target.verified_at is None


def test_unchanged_config_keeps_the_target_verified(verified_target):
    # Given a rename only, with the secret left blank
    verified_at = verified_target.verified_at
    form = CrmTargetForm(_edit_data(verified_target, name="Renamed"), instance=verified_target)

    # When it is saved
    assert form.is_valid(), form.errors
    form.save()

    # Then the target stays verified
    verified_target.refresh_from_db()
    assert (verified_target.name, verified_target.verified_at) == ("Renamed", verified_at)


def test_http_endpoint_is_refused_when_debug_is_off(verified_target, settings):
    settings.DEBUG = False
    form = CrmTargetForm(
        _edit_data(verified_target, config_httpsEndpointUrl="http://crm.example/leads"),
        instance=verified_target,
    )

    assert form.errors == {"config_httpsEndpointUrl": ["Enter an https:// URL."]}
    verified_target.refresh_from_db()
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/leads"


def test_http_endpoint_is_allowed_when_debug_is_on(verified_target, settings):
    settings.DEBUG = True
    form = CrmTargetForm(
        _edit_data(verified_target, config_httpsEndpointUrl="http://127.0.0.1:9000/leads"),
        instance=verified_target,
    )

    assert form.errors == {}


@pytest.mark.parametrize(
    "object_identifier",
    ["00Dabc", "00E000000000001", "00D0000000000001", "00D00000000000-AB"],
)
def test_salesforce_refuses_a_malformed_organization_id(object_identifier):
    form = CrmTargetForm(
        _form_data(kind=CrmTarget.Kind.SALESFORCE, config_objectIdentifier=object_identifier)
    )

    assert form.errors == {
        "config_objectIdentifier": [
            "Enter the Salesforce organization id: 15 or 18 characters starting with 00D."
        ]
    }


@pytest.mark.parametrize("object_identifier", ["00D000000000001", "00D5g000004XYZaEAO"])
def test_salesforce_accepts_a_15_or_18_character_organization_id(object_identifier):
    # Given a new Salesforce target with its limits left empty
    form = CrmTargetForm(
        _form_data(kind=CrmTarget.Kind.SALESFORCE, config_objectIdentifier=object_identifier)
    )

    # When it is saved
    assert form.is_valid(), form.errors
    target = form.save()

    # Then the config holds the id and the limits are the kind's defaults
    assert target.config == {"objectIdentifier": object_identifier}
    assert (target.rate_limit, target.rate_period_seconds, target.batch_size) == (500, 86_400, 1)


def test_missing_required_keys_are_reported_per_field():
    # Given a new Dynamics 365 target with only its instance URL
    form = CrmTargetForm(
        _form_data(
            kind=CrmTarget.Kind.DYNAMICS365, config_instanceUrl="https://org.crm.dynamics.com"
        )
    )

    # Then each missing key, the secret included, has its error
    assert form.errors == {
        "config_directoryId": ["This field is required."],
        "config_applicationId": ["This field is required."],
        "config_applicationKey": ["This field is required."],
    }


def test_a_required_secret_already_stored_may_be_left_blank(publisher):
    # Given a Marketo target whose client secret is stored
    target = factories.make_target(
        publisher=publisher,
        kind=CrmTarget.Kind.MARKETO,
        config={"munchkinId": "123-ABC-456", "clientId": "id", "clientSecret": SENTINEL},
    )

    # When it is edited with the secret blank
    form = CrmTargetForm(
        _form_data(
            kind=CrmTarget.Kind.MARKETO,
            publisher=str(publisher.pk),
            name=target.name,
            config_munchkinId="123-abc-456",
            config_clientId="id",
            config_clientSecret="",
        ),
        instance=target,
    )

    # Then it is valid, and the stored secret stays
    assert form.is_valid(), form.errors
    assert form.save().config == {
        "munchkinId": "123-ABC-456",
        "clientId": "id",
        "clientSecret": SENTINEL,
    }


def test_marketo_refuses_a_malformed_munchkin_id():
    form = CrmTargetForm(
        _form_data(
            kind=CrmTarget.Kind.MARKETO,
            config_munchkinId="ABC-123",
            config_clientId="id",
            config_clientSecret="secret",
        )
    )

    assert form.errors == {"config_munchkinId": ["Enter the Munchkin id like 123-ABC-456."]}


def test_contact_emails_are_split_on_commas_and_semicolons_and_validated():
    valid = CrmTargetForm(
        _form_data(
            config_httpsEndpointUrl="https://crm.example/leads",
            config_contactEmail="a@contoso.example; b@contoso.example,c@contoso.example",
        )
    )
    invalid = CrmTargetForm(
        _form_data(
            config_httpsEndpointUrl="https://crm.example/leads",
            config_contactEmail="a@contoso.example; not-an-email",
        )
    )

    assert valid.is_valid(), valid.errors
    assert valid.save().config["contactEmail"] == [
        "a@contoso.example",
        "b@contoso.example",
        "c@contoso.example",
    ]
    assert invalid.errors == {
        "config_contactEmail": ["These are not valid email addresses: not-an-email"]
    }


def test_a_target_refuses_another_publishers_listing(publisher, other_publisher):
    listing = factories.make_listing(publisher=other_publisher)

    form = CrmTargetForm(
        _form_data(
            publisher=str(publisher.pk),
            scope=CrmTarget.Scope.CHOSEN_LISTINGS,
            listings=[str(listing.pk)],
            config_httpsEndpointUrl="https://crm.example/leads",
        )
    )

    assert form.errors == {"listings": [f"These listings are not the publisher's: {listing}"]}


def test_a_new_target_without_a_kind_shows_no_configuration_field():
    form = CrmTargetForm()

    assert [name for name in form.fields if name.startswith("config_")] == []


# --- The admin pages --------------------------------------------------------------------


def test_no_target_or_delivery_page_shows_a_stored_secret(staff_client, verified_target):
    # Given a delivery to a target whose secret is the sentinel
    delivery = factories.make_delivery(
        lead=factories.make_lead(publisher=verified_target.publisher), target=verified_target
    )

    # When staff open every page that shows the target or its deliveries
    pages = {
        "targets": reverse("admin:crm_crmtarget_changelist"),
        "target": reverse("admin:crm_crmtarget_change", args=[verified_target.pk]),
        "deliveries": reverse("admin:crm_delivery_changelist"),
        "delivery": reverse("admin:crm_delivery_change", args=[delivery.pk]),
        "lead": reverse("admin:leads_lead_change", args=[delivery.lead_id]),
    }
    responses = {name: staff_client.get(url) for name, url in pages.items()}

    # Then the secret appears nowhere
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(pages, 200)
    assert {name: r.text.count(SENTINEL) for name, r in responses.items()} == dict.fromkeys(
        pages, 0
    )
    assert "https://crm.example/leads" in responses["target"].text


def test_admin_change_with_a_blank_secret_keeps_it_and_unverifies(staff_client, verified_target):
    # When staff change the URL in admin and leave the secret blank
    response = staff_client.post(
        reverse("admin:crm_crmtarget_change", args=[verified_target.pk]),
        _edit_data(verified_target, config_httpsEndpointUrl="https://crm.example/v2"),
    )

    # Then the secret stays and the target is no longer verified
    assert response.status_code == 302
    verified_target.refresh_from_db()
    assert verified_target.config["signingSecret"] == SENTINEL
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/v2"
    assert verified_target.verified_at is None


def test_admin_add_page_shows_the_configuration_of_the_chosen_kind(staff_client):
    without_kind = staff_client.get(reverse("admin:crm_crmtarget_add"))
    salesforce = staff_client.get(reverse("admin:crm_crmtarget_add"), {"kind": "salesforce"})

    assert "config_objectIdentifier" not in without_kind.text
    assert "?kind=salesforce" in without_kind.text
    assert 'name="config_objectIdentifier"' in salesforce.text
    assert 'name="config_baseUrl"' in salesforce.text


def test_admin_adds_a_field_seller_target_with_the_kind_defaults(staff_client):
    # When staff add a global Salesforce target, with the limits left empty
    response = staff_client.post(
        reverse("admin:crm_crmtarget_add"),
        _form_data(
            kind=CrmTarget.Kind.SALESFORCE,
            name="Microsoft field sellers",
            config_objectIdentifier="00D000000000001",
            config_baseUrl="",
            config_contactEmail="",
        ),
    )

    # Then it exists without a publisher, with the kind's limits
    assert response.status_code == 302
    target = CrmTarget.objects.get()
    assert (target.publisher, target.is_field_seller, target.config) == (
        None,
        True,
        {"objectIdentifier": "00D000000000001"},
    )
    assert (target.rate_limit, target.rate_period_seconds, target.batch_size) == (500, 86_400, 1)


def test_changelist_warns_when_no_active_field_seller_target_exists(staff_client, publisher):
    # Given a publisher target and a paused field-seller target
    factories.make_target(publisher=publisher)
    factories.make_target(publisher=None, is_active=False)

    # When staff open the targets
    response = staff_client.get(reverse("admin:crm_crmtarget_changelist"))

    # Then they are warned
    assert _messages(response) == [
        "No active Microsoft field-seller target: qualified leads are not reaching Microsoft "
        "sellers. Add or resume a CRM target without a publisher."
    ]


def test_changelist_does_not_warn_when_the_field_seller_target_is_active(staff_client):
    factories.make_target(publisher=None)

    response = staff_client.get(reverse("admin:crm_crmtarget_changelist"))

    assert _messages(response) == []


def test_pause_and_resume_actions(staff_client, publisher):
    # Given two active targets
    first = factories.make_target(publisher=publisher)
    second = factories.make_target(publisher=publisher)
    factories.make_target(publisher=None)  # the field seller, so that no warning shows
    url = reverse("admin:crm_crmtarget_changelist")

    # When staff pause both, then resume the first
    paused = staff_client.post(
        url, {"action": "pause", "_selected_action": [first.pk, second.pk]}, follow=True
    )
    pause_state = set(CrmTarget.objects.filter(is_active=False).values_list("pk", flat=True))
    resumed = staff_client.post(
        url, {"action": "resume", "_selected_action": [first.pk]}, follow=True
    )

    # Then each action did what it says
    assert (_messages(paused), pause_state) == (["2 targets paused."], {first.pk, second.pk})
    assert _messages(resumed) == ["1 target resumed."]
    assert set(CrmTarget.objects.filter(is_active=False).values_list("pk", flat=True)) == {
        second.pk
    }


def test_pause_and_resume_count_only_targets_that_change(publisher):
    active = factories.make_target(publisher=publisher)
    paused = factories.make_target(publisher=publisher, is_active=False)
    both = CrmTarget.objects.filter(pk__in=[active.pk, paused.pk])

    assert targets_pause(targets=both) == 1
    assert targets_resume(targets=both) == 2


# --- The delivery log -------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_delivery_changelist_runs_as_many_queries_for_60_rows_as_for_5(staff_client):
    # Given 5 deliveries, each to its own lead, target and publisher
    url = reverse("admin:crm_delivery_changelist")
    for _ in range(5):
        factories.make_delivery()
    queries_for_5 = _count_queries(staff_client, url)

    # When there are 60
    for _ in range(55):
        factories.make_delivery()
    queries_for_60 = _count_queries(staff_client, url)

    # Then the changelist runs the same number of queries
    assert queries_for_60 == queries_for_5


def test_delivery_log_cannot_be_added_or_changed(staff_client, verified_target):
    # Given a failed delivery
    delivery = factories.make_delivery(
        lead=factories.make_lead(publisher=verified_target.publisher),
        target=verified_target,
        status=Delivery.Status.FAILED,
        attempts=3,
        last_error="timeout",
    )

    # When staff try to add one, or to post a change to it
    add = staff_client.get(reverse("admin:crm_delivery_add"))
    change = staff_client.post(
        reverse("admin:crm_delivery_change", args=[delivery.pk]),
        {"status": "delivered", "attempts": "0", "last_error": ""},
    )
    view = staff_client.get(reverse("admin:crm_delivery_change", args=[delivery.pk]))

    # Then both are refused, nothing changes, and the page shows the fields as text
    assert (add.status_code, change.status_code, view.status_code) == (403, 403, 200)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 3, "timeout")
    assert view.context["adminform"].form.fields == {}
    assert str(delivery.idempotency_key) in view.text


def test_delivery_search_finds_a_delivery_by_its_idempotency_key(staff_client):
    delivery = factories.make_delivery()
    factories.make_delivery()

    response = staff_client.get(
        reverse("admin:crm_delivery_changelist"), {"q": str(delivery.idempotency_key)}
    )

    assert [row.pk for row in response.context["cl"].result_list] == [delivery.pk]


def test_lead_page_lists_its_deliveries_read_only(staff_client, verified_target):
    lead = factories.make_lead(publisher=verified_target.publisher)
    delivery = factories.make_delivery(lead=lead, target=verified_target)

    response = staff_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    inline = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is Delivery
    )
    assert [form.instance.pk for form in inline.formset.forms] == [delivery.pk]
    assert (inline.has_add_permission, inline.has_delete_permission) == (False, False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/leads", "a loopback address"),
        ("https://10.1.2.3/leads", "a private address"),
        ("https://169.254.169.254/latest", "the cloud metadata address"),
    ],
)
def test_a_private_endpoint_is_refused_at_save(verified_target, settings, url, reason):
    settings.CRM_ALLOW_PRIVATE_TARGETS = False

    form = CrmTargetForm(
        _edit_data(verified_target, config_httpsEndpointUrl=url), instance=verified_target
    )

    assert not form.is_valid()
    assert reason in form.errors["config_httpsEndpointUrl"][0]
    verified_target.refresh_from_db()
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/leads"
