"""A publisher's sending identity: its From address, the DNS records it publishes and their
check against a DNS server on loopback (never real DNS), and the rates shown (docs/email.md)."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from leads.models import SendingIdentity
from leads.sending import services
from portal.encrypted_fields import EncryptedJSONField
from tests.factories import make_publisher
from tests.leads.dns_support import LoopbackDns, loopback_dns, publish_identity  # noqa: F401
from tests.leads.nurture_support import make_owner_and_member
from tests.portal.tenancy_world import client_for

pytestmark = pytest.mark.django_db

PAGE = "/settings/sending/"
CHECK = "/settings/sending/check/"


@pytest.fixture
def publisher():
    return make_publisher(name="Contoso")


@pytest.fixture
def owner(publisher):
    return make_owner_and_member(publisher)[0]


def identity_of(publisher, address="news@contoso.example") -> SendingIdentity:
    return services.identity_save(publisher=publisher, from_email=address)


def test_the_routes_are_in_the_settings_area():
    assert reverse("settings-sending") == PAGE
    assert reverse("settings-sending-check") == CHECK


def test_an_owner_sets_the_from_address_and_sees_the_three_records(
    publisher,
    owner,
    loopback_dns,  # noqa: F811
):
    # Given an owner on the identity page, when they save a From address
    response = client_for(owner).post(PAGE, {"from_email": "News@Contoso.example"})

    # Then the identity exists, unverified, with a DKIM key and selector of its own
    assert response.status_code == 302
    identity = SendingIdentity.objects.get(publisher=publisher)
    assert (identity.from_email, identity.domain) == ("News@Contoso.example", "contoso.example")
    assert identity.status == SendingIdentity.Status.UNVERIFIED
    assert identity.dkim_selector.startswith("lp")
    # And the page shows the records to publish
    page = client_for(owner).get(PAGE).content.decode()
    assert "v=spf1 include:_spf.portal.test ~all" in page
    assert f"{identity.dkim_selector}._domainkey.contoso.example" in page
    assert f"v=DKIM1; k=rsa; p={identity.dkim_public_key}" in page
    assert "_dmarc.contoso.example" in page
    assert "v=DMARC1; p=none; rua=mailto:dmarc@contoso.example" in page
    assert "PRIVATE KEY" not in page


def test_the_dkim_private_key_is_encrypted_at_rest(publisher):
    identity = identity_of(publisher)

    with connection.cursor() as cursor:
        cursor.execute("SELECT dkim_key FROM leads_sendingidentity WHERE id = %s", [identity.pk])
        (stored,) = cursor.fetchone()

    assert "PRIVATE KEY" not in stored
    decrypted = EncryptedJSONField.decrypt(stored)
    assert decrypted["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_check_dns_verifies_an_identity_whose_records_are_all_published(
    publisher,
    owner,
    loopback_dns,  # noqa: F811
):
    # Given an identity whose three records are published
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    loopback_dns.publish("contoso.example", "google-site-verification=abc")

    # When the owner presses "Check DNS"
    response = client_for(owner).post(CHECK)

    # Then each record is right and the identity is verified
    assert response.status_code == 302
    identity.refresh_from_db()
    assert identity.status == SendingIdentity.Status.VERIFIED
    assert identity.verified_at is not None and identity.checked_at is not None
    assert {key: r["status"] for key, r in identity.check_results.items()} == {
        "spf": "ok",
        "dkim": "ok",
        "dmarc": "ok",
    }
    assert set(loopback_dns.questions) == {
        "contoso.example",
        f"{identity.dkim_selector}._domainkey.contoso.example",
        "_dmarc.contoso.example",
    }
    page = client_for(owner).get(PAGE).content.decode()
    assert "SPF is right: the portal&#x27;s servers may send for the domain." in page
    assert "DKIM is right: receivers can verify the portal&#x27;s signature." in page
    assert "Nurture email goes out from <strong>news@contoso.example</strong>." in page


def test_check_dns_says_what_is_wrong_with_each_record(publisher, owner, loopback_dns):  # noqa: F811
    # Given an SPF record without the include, a foreign DKIM key and no DMARC record
    identity = identity_of(publisher)
    loopback_dns.publish("contoso.example", "v=spf1 include:_spf.other.example -all")
    loopback_dns.publish(
        f"{identity.dkim_selector}._domainkey.contoso.example", "v=DKIM1; k=rsa; p=MIIBIjANBgkq"
    )

    client_for(owner).post(CHECK)

    # Then the identity failed, and each record says why
    identity.refresh_from_db()
    assert identity.status == SendingIdentity.Status.FAILED
    assert identity.verified_at is None
    assert identity.check_results["spf"] == {
        "status": "mismatch",
        "found": ["v=spf1 include:_spf.other.example -all"],
    }
    assert identity.check_results["dkim"]["status"] == "mismatch"
    assert identity.check_results["dmarc"] == {"status": "missing", "found": []}
    page = client_for(owner).get(PAGE).content.decode()
    assert "The SPF record does not include _spf.portal.test." in page
    assert "its key (p=) is not this identity&#x27;s key" in page
    assert "No DMARC record (v=DMARC1) was found." in page


def test_two_spf_records_are_one_too_many(publisher, owner, loopback_dns):  # noqa: F811
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    loopback_dns.publish("contoso.example", "v=spf1 mx -all")

    checked = services.identity_check(identity=identity)

    assert checked.check_results["spf"]["status"] == "multiple"
    assert checked.status == SendingIdentity.Status.FAILED


def test_a_dkim_key_split_over_two_strings_and_a_reject_policy_are_right(
    publisher,
    loopback_dns,  # noqa: F811
):
    identity = identity_of(publisher)
    records = services.identity_records(identity)
    loopback_dns.publish("contoso.example", "v=spf1 mx include:_spf.portal.test -all")
    # The DKIM value is over 255 characters: the server sends it as two strings
    assert len(records[1].value) > 255
    loopback_dns.publish(records[1].name, records[1].value)
    loopback_dns.publish("_dmarc.contoso.example", "v=DMARC1; p=reject; adkim=s")

    checked = services.identity_check(identity=identity)

    assert checked.status == SendingIdentity.Status.VERIFIED


def test_a_nameserver_that_does_not_answer_is_an_error_not_a_verdict(
    publisher,
    loopback_dns,  # noqa: F811
):
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    loopback_dns.silent.add("_dmarc.contoso.example")

    checked = services.identity_check(identity=identity)

    assert checked.check_results["dmarc"]["status"] == "error"
    assert checked.check_results["spf"]["status"] == "ok"
    assert checked.status == SendingIdentity.Status.FAILED


def test_a_verified_identity_that_fails_a_later_check_is_no_longer_used(
    publisher,
    loopback_dns,  # noqa: F811
):
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    assert services.identity_check(identity=identity).is_verified
    loopback_dns.records.pop(f"{identity.dkim_selector}._domainkey.contoso.example")

    checked = services.identity_check(identity=identity)

    assert checked.status == SendingIdentity.Status.FAILED
    assert checked.verified_at is None


def test_a_new_domain_must_be_checked_again_but_a_new_local_part_need_not(
    publisher,
    loopback_dns,  # noqa: F811
):
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))
    services.identity_check(identity=identity)
    key = identity.dkim_public_key

    same_domain = services.identity_save(publisher=publisher, from_email="hello@contoso.example")
    assert same_domain.is_verified

    other = services.identity_save(publisher=publisher, from_email="hello@fabrikam.example")
    assert other.status == SendingIdentity.Status.UNVERIFIED
    assert (other.check_results, other.verified_at, other.domain) == ({}, None, "fabrikam.example")
    assert other.dkim_public_key == key
    assert SendingIdentity.objects.count() == 1


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("not an address", "Enter a valid email address."),
        ("", "This field is required."),
        ("news@localhost", "Use an address at a public domain"),
        ("leads@portal.test", "This is the portal&#x27;s own domain"),
    ],
)
def test_a_bad_from_address_is_refused_next_to_the_field(
    publisher,
    owner,
    loopback_dns,  # noqa: F811
    settings,
    address,
    error,
):
    settings.DEFAULT_FROM_EMAIL = "Lead Portal <leads@portal.test>"
    response = client_for(owner).post(PAGE, {"from_email": address})

    assert response.status_code == 200
    field = response.content.decode().split('id="id_from_email"')[0]
    assert error in field.rsplit("<label", 1)[1]  # next to the field, before its input
    assert not SendingIdentity.objects.exists()


def test_a_member_sees_the_page_but_changes_nothing(publisher, loopback_dns):  # noqa: F811
    _owner, member = make_owner_and_member(publisher)
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))

    page = client_for(member).get(PAGE)
    save = client_for(member).post(PAGE, {"from_email": "x@fabrikam.example"})
    check = client_for(member).post(CHECK)

    assert page.status_code == 200
    assert identity.dkim_public_key in page.content.decode()
    assert "Check DNS" not in page.content.decode()
    assert (save.status_code, check.status_code) == (403, 403)
    identity.refresh_from_db()
    assert (identity.from_email, identity.status) == ("news@contoso.example", "unverified")
    assert loopback_dns.questions == []


def test_check_dns_without_an_identity_asks_for_an_address(publisher, owner, loopback_dns):  # noqa: F811
    response = client_for(owner).post(CHECK, follow=True)

    assert "Set a From address first." in response.content.decode()
    assert loopback_dns.questions == []


def test_another_publishers_identity_is_never_shown(publisher, owner):
    other = make_publisher(name="Fabrikam")
    identity_of(other, "news@fabrikam.example")

    page = client_for(owner).get(PAGE).content.decode()

    assert "fabrikam" not in page.lower()
    assert not SendingIdentity.objects.filter(publisher=publisher).exists()


def test_staff_see_an_identity_without_its_key_and_recheck_it(
    admin_client,
    publisher,
    loopback_dns,  # noqa: F811
):
    identity = identity_of(publisher)
    publish_identity(loopback_dns, identity, services.identity_records(identity))

    change = admin_client.get(f"/admin/leads/sendingidentity/{identity.pk}/change/")
    checked = admin_client.post(
        "/admin/leads/sendingidentity/",
        {"action": "check_dns", "_selected_action": [str(identity.pk)]},
        follow=True,
    )

    assert change.status_code == 200
    assert identity.dkim_public_key[:40] in change.content.decode()
    assert "PRIVATE KEY" not in change.content.decode()
    assert "1 identity checked, 1 verified." in checked.content.decode()
    identity.refresh_from_db()
    assert identity.is_verified


def test_key_rotation_re_encrypts_the_dkim_key(publisher, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    identity = identity_of(publisher)
    private_key = identity.dkim_key["private_key"]

    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    assert "Re-encrypted 1 sending identities." in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert SendingIdentity.objects.get().dkim_key["private_key"] == private_key


def test_the_page_speaks_spanish(publisher, owner, loopback_dns):  # noqa: F811
    identity = identity_of(publisher)
    loopback_dns.publish("contoso.example", "v=spf1 -all")
    services.identity_check(identity=identity)

    page = client_for(owner).get(PAGE, headers={"accept-language": "es"}).content.decode()

    assert "Identidad de envío" in page
    assert "Comprobar DNS" in page
    assert "El registro SPF no incluye _spf.portal.test." in page
    assert "Rebotes y quejas" in page
