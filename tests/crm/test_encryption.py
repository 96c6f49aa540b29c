"""CrmTarget.config is encrypted at rest, and keys rotate (reference S4)."""

import io
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from crm.models import CrmTarget
from tests.factories import make_target

SENTINEL = "whsec_SENTINEL-do-not-leak-3f9a1c"
K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()


def raw_tokens() -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, config FROM crm_crmtarget ORDER BY id")
        return dict(cursor.fetchall())


@pytest.fixture
def keys(settings):
    def use(*keys):
        settings.FIELD_ENCRYPTION_KEYS = list(keys)

    use(K1)
    return use


def test_the_database_holds_ciphertext_never_the_plaintext(db, keys, publisher):
    # Given a target whose config holds a secret
    target = make_target(
        publisher=publisher,
        config={"httpsEndpointUrl": "https://crm.example/in", "signingSecret": SENTINEL},
    )

    # When the row is read raw
    token = raw_tokens()[target.pk]

    # Then it is a Fernet token under the current key, without the plaintext
    assert SENTINEL not in token
    assert "crm.example" not in token
    assert json.loads(Fernet(K1).decrypt(token.encode()))["signingSecret"] == SENTINEL
    # …and the model reads the dict back
    assert CrmTarget.objects.get(pk=target.pk).config["signingSecret"] == SENTINEL


def test_rotation_re_encrypts_every_row_under_the_new_key(db, keys, publisher):
    # Given three targets written under K1
    targets = [make_target(publisher=publisher, config={"n": n, "s": SENTINEL}) for n in range(3)]

    # When K2 is put first and the rotation runs
    keys(K2, K1)
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert out.getvalue() == "Re-encrypted 3 CRM target configurations.\n"

    # Then every row decrypts with K2 alone and none with K1 alone
    tokens = raw_tokens()
    assert len(tokens) == 3
    for token in tokens.values():
        assert json.loads(Fernet(K2).decrypt(token.encode()))["s"] == SENTINEL
        with pytest.raises(InvalidToken):
            Fernet(K1).decrypt(token.encode())
    # …and with K1 dropped the application still reads every config
    keys(K2)
    assert sorted(t.config["n"] for t in CrmTarget.objects.all()) == [0, 1, 2]
    assert {t.pk for t in targets} == set(tokens)


def test_rotation_with_a_lost_key_changes_nothing_and_fails(db, keys, publisher):
    # Given one target under K1 and one under K2
    first = make_target(publisher=publisher, config={"n": 1})
    keys(K2)
    make_target(publisher=publisher, config={"n": 2})
    before = raw_tokens()

    # When the rotation runs with K1 missing
    with pytest.raises(CommandError, match=f"CRM target {first.pk}"):
        call_command("rotate_encryption_keys")

    # Then no row was rewritten
    assert raw_tokens() == before


def test_rotation_re_encrypts_the_partner_center_connections_too(db, keys, publisher):
    # Given a target and a Partner Center connection written under K1
    from crm.models import ReferralConnection
    from tests.crm.referrals_support import connect
    from tests.factories import make_listing

    make_target(publisher=publisher, config={"n": 1})
    listing = make_listing(publisher=publisher)
    row = connect(publisher, listing, client_secret=SENTINEL, password=SENTINEL)

    # When K2 is put first and the rotation runs
    keys(K2, K1)
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    # Then the connection's secrets decrypt with K2 alone
    assert out.getvalue() == (
        "Re-encrypted 1 CRM target configurations. Re-encrypted 1 Partner Center connections.\n"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM crm_referralconnection WHERE id = %s", [row.pk])
        token = cursor.fetchone()[0]
    assert json.loads(Fernet(K2).decrypt(token.encode()))["client_secret"] == SENTINEL
    keys(K2)
    assert ReferralConnection.objects.get().secrets["password"] == SENTINEL


def test_rotation_re_encrypts_the_erasure_lookups_and_skips_other_deliveries(db, keys, publisher):
    # Given an erasure delivery whose lookup holds an address, and an ordinary delivery
    from crm.models import Delivery
    from tests.factories import make_delivery, make_lead

    target = make_target(publisher=publisher, config={"n": 1})
    lead = make_lead(publisher=publisher)
    ordinary = make_delivery(lead=lead, target=target)
    erasure = make_delivery(
        lead=lead, target=target, event="lead.erased", lookup={"email": "sentinel@leak.example"}
    )

    # When K2 is put first and the rotation runs
    keys(K2, K1)
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    # Then the lookup decrypts with K2 alone; the ordinary row holds no lookup at all
    assert out.getvalue() == (
        "Re-encrypted 1 CRM target configurations. Re-encrypted 1 erasure deliveries' lookups.\n"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, lookup FROM crm_delivery ORDER BY id")
        tokens = dict(cursor.fetchall())
    assert tokens[ordinary.pk] is None
    assert "sentinel" not in tokens[erasure.pk]
    assert json.loads(Fernet(K2).decrypt(tokens[erasure.pk].encode()))["email"] == (
        "sentinel@leak.example"
    )
    keys(K2)
    assert Delivery.objects.get(pk=erasure.pk).lookup == {"email": "sentinel@leak.example"}
