"""The CRM target form: secrets, endpoints, per-kind configuration and validation."""

import pytest

from crm.forms import CrmTargetForm
from crm.models import CrmTarget
from tests import factories
from tests.crm.admin_support import SENTINEL, edit_data, form_data

pytestmark = pytest.mark.django_db
NEW_SECRET = "whsec_bmV3LXNlY3JldC1uZXZlci1zaG93bg"


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
        edit_data(
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
        edit_data(verified_target, config_httpsEndpointUrl="https://crm.example/v2"),
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
        edit_data(verified_target, config_signingSecret=NEW_SECRET), instance=verified_target
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
    form = CrmTargetForm(edit_data(verified_target, name="Renamed"), instance=verified_target)

    # When it is saved
    assert form.is_valid(), form.errors
    form.save()

    # Then the target stays verified
    verified_target.refresh_from_db()
    assert (verified_target.name, verified_target.verified_at) == ("Renamed", verified_at)


def test_http_endpoint_is_refused_when_debug_is_off(verified_target, settings):
    settings.DEBUG = False
    form = CrmTargetForm(
        edit_data(verified_target, config_httpsEndpointUrl="http://crm.example/leads"),
        instance=verified_target,
    )

    assert form.errors == {"config_httpsEndpointUrl": ["Enter an https:// URL."]}
    verified_target.refresh_from_db()
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/leads"


def test_http_endpoint_is_allowed_when_debug_is_on(verified_target, settings):
    settings.DEBUG = True
    form = CrmTargetForm(
        edit_data(verified_target, config_httpsEndpointUrl="http://127.0.0.1:9000/leads"),
        instance=verified_target,
    )

    assert form.errors == {}


@pytest.mark.parametrize(
    "object_identifier",
    ["00Dabc", "00E000000000001", "00D0000000000001", "00D00000000000-AB"],
)
def test_salesforce_refuses_a_malformed_organization_id(object_identifier):
    form = CrmTargetForm(
        form_data(kind=CrmTarget.Kind.SALESFORCE, config_objectIdentifier=object_identifier)
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
        form_data(kind=CrmTarget.Kind.SALESFORCE, config_objectIdentifier=object_identifier)
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
        form_data(
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
        form_data(
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
        form_data(
            kind=CrmTarget.Kind.MARKETO,
            config_munchkinId="ABC-123",
            config_clientId="id",
            config_clientSecret="secret",
        )
    )

    assert form.errors == {"config_munchkinId": ["Enter the Munchkin id like 123-ABC-456."]}


def test_contact_emails_are_split_on_commas_and_semicolons_and_validated():
    valid = CrmTargetForm(
        form_data(
            config_httpsEndpointUrl="https://crm.example/leads",
            config_contactEmail="a@contoso.example; b@contoso.example,c@contoso.example",
        )
    )
    invalid = CrmTargetForm(
        form_data(
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
        form_data(
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
        edit_data(verified_target, config_httpsEndpointUrl=url), instance=verified_target
    )

    assert not form.is_valid()
    assert reason in form.errors["config_httpsEndpointUrl"][0]
    verified_target.refresh_from_db()
    assert verified_target.config["httpsEndpointUrl"] == "https://crm.example/leads"


# --- The erasure mode -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("https", "An HTTPS endpoint always gets a signed lead.erased event; choose notify."),
        ("salesforce", "Salesforce Web-to-Lead cannot delete a lead: erasures are notified."),
    ],
)
def test_delete_is_refused_next_to_the_field_for_a_kind_that_cannot_delete(kind, error):
    form = CrmTargetForm(form_data(kind=kind, erasure_mode="delete"), kind=kind)

    assert form.is_valid() is False
    assert form.errors["erasure_mode"] == [error]


def test_a_form_without_the_erasure_mode_keeps_the_stored_one(publisher):
    target = factories.make_target(
        publisher=publisher,
        kind="marketo",
        config={"munchkinId": "123-ABC-456", "clientId": "id", "clientSecret": SENTINEL},
        erasure_mode="delete",
    )
    data = edit_data(target, kind="marketo", config_munchkinId="123-ABC-456", config_clientId="id")

    form = CrmTargetForm(data, instance=target)

    assert form.is_valid(), form.errors
    assert form.save().erasure_mode == "delete"
