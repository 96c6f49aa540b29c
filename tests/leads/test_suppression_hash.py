"""The suppression list's keyed HMAC: keys, the SQL twin, legacy tokens and the migration."""

import hashlib
import hmac

import pytest
import time_machine
from django.core import signing
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils.crypto import salted_hmac

from leads.models import EmailSend, Enrollment, Lead, Suppression
from leads.nurture import address_hash, unsubscribe
from leads.nurture import send as nurture_send
from leads.nurture import services as nurture
from tests.leads.nurture_support import Sequence, smtp  # noqa: F401
from tests.leads.test_unsubscribe import ONE_CLICK, T0, mailbox_provider

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

ADDRESS = "Eve.Example@Contoso.example"


def sha256_of(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def legacy_token(*, publisher_id: int, email: str, send_id: int | None = None) -> str:
    """A token exactly as the portal made them before the HMAC (salt v1, bare SHA-256)."""
    payload = {"p": publisher_id, "h": sha256_of(email)}
    if send_id is not None:
        payload["s"] = send_id
    return signing.dumps(payload, salt="leads.unsubscribe.v1")


def one_click(token: str):
    return mailbox_provider().post(
        reverse("unsubscribe", kwargs={"token": token}),
        ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
    )


# --- The hash and its keys ------------------------------------------------------------------


def test_the_hash_is_a_salted_hmac_of_the_normalized_address_not_its_sha256(settings):
    # Given the default configuration (no SUPPRESSION_HASH_KEY)
    settings.SUPPRESSION_HASH_KEY = ""

    # When an address is hashed
    hashed = unsubscribe.email_hash(f"  {ADDRESS} ")

    # Then it is Django's salted HMAC with the suppression salt, never the bare SHA-256
    expected = salted_hmac(
        "leadportal.suppression", ADDRESS.lower(), secret=settings.SECRET_KEY, algorithm="sha256"
    ).hexdigest()
    assert hashed == expected
    assert hashed != sha256_of(ADDRESS)


def test_a_dedicated_key_writes_and_secret_key_rotation_leaves_it_alone(settings):
    # Given a dedicated key
    settings.SUPPRESSION_HASH_KEY = "dedicated-suppression-key"
    before = unsubscribe.email_hash(ADDRESS)

    # When SECRET_KEY rotates
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-only"

    # Then the address's hash is the same
    assert unsubscribe.email_hash(ADDRESS) == before
    expected = salted_hmac(
        "leadportal.suppression",
        ADDRESS.lower(),
        secret="dedicated-suppression-key",
        algorithm="sha256",
    )
    assert before == expected.hexdigest()


def test_rows_written_under_an_earlier_key_stay_matched(settings):
    # Given an address suppressed with the key derived from the old SECRET_KEY
    settings.SUPPRESSION_HASH_KEY = ""
    sequence = Sequence()
    old_secret = settings.SECRET_KEY
    unsubscribe.suppression_add_email(
        publisher_id=sequence.publisher.pk, email=ADDRESS, reason="unsubscribed"
    )

    # When SECRET_KEY rotates (the old one in the fallbacks), then a dedicated key is set
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "rotated-secret-key-xyz", [old_secret]
    after_rotation = unsubscribe.is_suppressed(publisher_id=sequence.publisher.pk, email=ADDRESS)
    settings.SUPPRESSION_HASH_KEY = "dedicated-suppression-key"
    after_dedicated = unsubscribe.is_suppressed(publisher_id=sequence.publisher.pk, email=ADDRESS)
    (lead,) = sequence.leads(1, prefix="eve.example")
    Lead.objects.filter(pk=lead.pk).update(email_normalized=ADDRESS.lower())

    # Then the address is still suppressed, and neither enrolled nor duplicated
    assert (after_rotation, after_dedicated) == (True, True)
    assert sequence.enrol([lead]) == 0
    assert not unsubscribe.suppression_add_email(
        publisher_id=sequence.publisher.pk, email=ADDRESS, reason="bounced"
    )
    assert Suppression.objects.count() == 1


def test_postgresql_computes_the_same_hmac_as_python(settings):
    # Given addresses with non-ASCII characters, and two keys
    if connection.vendor != "postgresql":
        pytest.skip("the SQL twin is PostgreSQL's")
    settings.SECRET_KEY_FALLBACKS = ["an-older-secret"]
    emails = ["ada@contoso.example", "zoë.ñandú@exämple.es", "x" * 64 + "@long.example"]

    # When PostgreSQL hashes them with each key
    computed = []
    with connection.cursor() as cursor:
        for key in address_hash.hash_keys():
            for email in emails:
                sql, params = address_hash.hmac_sql("%s", key)
                # The column here is a parameter of its own, after the two pads.
                cursor.execute(f"SELECT {sql}", [*params, email])
                computed.append(cursor.fetchone()[0])

    # Then each is Python's HMAC under that key
    expected = [
        hmac.new(key, email.encode(), hashlib.sha256).hexdigest()
        for key in address_hash.hash_keys()
        for email in emails
    ]
    assert computed == expected
    assert len(address_hash.hash_keys()) == 2


# --- Tokens -----------------------------------------------------------------------------------


def test_new_tokens_carry_the_hmac_and_never_the_bare_sha256():
    # When a token is made
    token = unsubscribe.token_make(publisher_id=7, email=ADDRESS, send_id=3)

    # Then it is compact, reads back with the HMAC, and the SHA-256 of the address is not in it
    assert len(token) < 80
    assert unsubscribe.token_read(token) == unsubscribe.UnsubscribeToken(
        7, unsubscribe.email_hash(ADDRESS), 3, False
    )
    assert sha256_of(ADDRESS) not in token


def test_a_compact_token_signed_under_a_fallback_key_still_reads(settings):
    # Given a token made under the previous SECRET_KEY
    token = unsubscribe.token_make(publisher_id=7, email=ADDRESS)
    hashed = unsubscribe.email_hash(ADDRESS)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40

    # Then it still reads; under a key that is gone it does not
    assert unsubscribe.token_read(token) == unsubscribe.UnsubscribeToken(7, hashed, None, False)
    settings.SECRET_KEY_FALLBACKS = []
    assert unsubscribe.token_read(token) is None


@pytest.mark.parametrize("position", [0, 3, -1, -30])
def test_an_altered_compact_token_reads_as_nothing(position):
    token = unsubscribe.token_make(publisher_id=7, email=ADDRESS, send_id=3)
    swapped = "B" if token[position] != "B" else "C"
    if token[position] == ".":
        swapped = "0"
    altered = token[:position] + swapped + (token[position + 1 :] if position != -1 else "")
    assert unsubscribe.token_read(altered) is None


def test_a_signing_token_of_the_hmac_era_still_reads():
    # A token as the portal made them before the compact form (salt v2)
    token = signing.dumps(
        {"p": 7, "h": unsubscribe.email_hash(ADDRESS), "s": 3}, salt="leads.unsubscribe.v2"
    )
    assert unsubscribe.token_read(token) == unsubscribe.UnsubscribeToken(
        7, unsubscribe.email_hash(ADDRESS), 3, False
    )


def test_a_token_sent_before_the_hmac_still_unsubscribes_under_the_new_hash(smtp):  # noqa: F811
    # Given a lead that got a message whose link was made the old way
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        (lead, other) = sequence.leads(2)
        sequence.enrol([lead, other])
        nurture_send.nurture_send_due()
    send = EmailSend.objects.get(enrollment__lead=lead)
    token = legacy_token(publisher_id=sequence.publisher.pk, email=lead.email, send_id=send.pk)

    # When the reader clicks it (one-click POST)
    response = one_click(token)

    # Then the address is suppressed under the HMAC, and only this lead's enrolment stops
    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.email_hash, suppression.is_legacy, suppression.send_id) == (
        unsubscribe.email_hash(lead.email),
        False,
        send.pk,
    )
    states = dict(Enrollment.objects.values_list("lead_id", "stop_reason"))
    assert states == {lead.pk: "unsubscribed", other.pk: ""}


def test_a_legacy_token_of_an_erased_address_keeps_its_sha256_and_still_suppresses():
    # Given an old token whose address no lead has any more
    sequence = Sequence()
    token = legacy_token(publisher_id=sequence.publisher.pk, email=ADDRESS)

    # When it is used, twice
    first, again = one_click(token), one_click(token)

    # Then one legacy row keeps the SHA-256, and the address, coming back, is not enrolled
    assert (first.status_code, again.status_code) == (200, 200)
    assert list(Suppression.objects.values_list("email_hash", "is_legacy")) == [
        (sha256_of(ADDRESS), True)
    ]
    (lead,) = sequence.leads(1)
    Lead.objects.filter(pk=lead.pk).update(email_normalized=ADDRESS.lower())
    assert sequence.enrol([lead]) == 0
    assert not Enrollment.objects.exists()


def test_an_altered_legacy_token_suppresses_nothing():
    sequence = Sequence()
    token = legacy_token(publisher_id=sequence.publisher.pk, email=ADDRESS)
    response = one_click(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert response.status_code == 400
    assert not Suppression.objects.exists()


# --- The migration ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_rehashes_known_addresses_and_keeps_the_others_as_legacy(
    smtp,  # noqa: F811
):
    # Given the schema before the HMAC, with two SHA-256 suppressions: one of a lead's
    # address, one of an address known nowhere any more
    executor = MigrationExecutor(connection)
    executor.migrate([("leads", "0008_lead_list_indexes")])
    old_apps = executor.loader.project_state([("leads", "0008_lead_list_indexes")]).apps
    sequence_publisher = _publisher_with_lead(old_apps, "Known@Contoso.example")
    OldSuppression = old_apps.get_model("leads", "Suppression")
    OldSuppression.objects.create(
        publisher_id=sequence_publisher,
        email_hash=sha256_of("known@contoso.example"),
        reason="unsubscribed",
    )
    OldSuppression.objects.create(
        publisher_id=sequence_publisher,
        email_hash=sha256_of("erased@contoso.example"),
        reason="bounced",
    )

    # When the migration runs
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Then the known address has its HMAC, the other its SHA-256 marked legacy
    rows = set(Suppression.objects.values_list("email_hash", "is_legacy", "reason"))
    assert rows == {
        (unsubscribe.email_hash("known@contoso.example"), False, "unsubscribed"),
        (sha256_of("erased@contoso.example"), True, "bounced"),
    }
    # And both addresses are still suppressed everywhere: the check, enrolment, sending
    for email in ("known@contoso.example", "Erased@Contoso.example"):
        assert unsubscribe.is_suppressed(publisher_id=sequence_publisher, email=email)
    assert unsubscribe.suppressed_addresses(
        pairs={(sequence_publisher, "known@contoso.example"), (sequence_publisher, "new@x.example")}
    ) == {(sequence_publisher, "known@contoso.example")}


def _publisher_with_lead(apps, email: str) -> int:
    Publisher = apps.get_model("portal", "Publisher")
    Lead = apps.get_model("leads", "Lead")
    publisher = Publisher.objects.create(name="Contoso", slug="contoso", publisher_id="contoso")
    Lead.objects.create(
        publisher=publisher, email=email, email_normalized=email.lower(), first_name="Known"
    )
    return publisher.pk


def test_every_suppression_check_matches_a_legacy_row(smtp):  # noqa: F811
    # Given a legacy row for an address, and leads with that address enrolled earlier
    with time_machine.travel(T0, tick=True):
        sequence = Sequence()
        (lead,) = sequence.leads(1)
        sequence.enrol([lead])
        Suppression.objects.create(
            publisher=sequence.publisher,
            email_hash=sha256_of(lead.email),
            is_legacy=True,
            reason="unsubscribed",
        )

        # When the sender runs
        nurture_send.nurture_send_due()

    # Then nothing is sent, and the enrolment stops as suppressed
    enrollment = Enrollment.objects.get()
    assert smtp.received == []
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "suppressed")
    # And a bare SHA-256 row NOT marked legacy matches nothing (no accidental double meaning)
    Suppression.objects.update(is_legacy=False)
    assert not unsubscribe.is_suppressed(publisher_id=sequence.publisher.pk, email=lead.email)
    assert nurture.enrollments_create(pairs=[]) == 0


def test_staff_find_a_legacy_row_by_the_address(admin_client):
    sequence = Sequence()
    Suppression.objects.create(
        publisher=sequence.publisher,
        email_hash=sha256_of(ADDRESS),
        is_legacy=True,
        reason="complained",
    )
    response = admin_client.get(
        reverse("admin:leads_suppression_changelist"), {"q": ADDRESS.upper()}
    )
    assert response.status_code == 200
    assert [row.reason for row in response.context["cl"].result_list] == ["complained"]
