"""An Azure Table source's connection string is encrypted at rest and rotates with the keys."""

import io
import json

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from inbound.models import InboundSource
from tests.factories import make_publisher, make_target
from tests.inbound.table_support import table_source

pytestmark = pytest.mark.django_db

K1 = Fernet.generate_key().decode()
K2 = Fernet.generate_key().decode()
CONNECTION = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=U0VOVElORUw="


def raw_config(source) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM inbound_inboundsource WHERE id = %s", [source.pk])
        return cursor.fetchone()[0]


def test_the_rotation_re_encrypts_table_sources_with_the_crm_targets(settings):
    # Given a CRM target and a table source written under K1
    settings.FIELD_ENCRYPTION_KEYS = [K1]
    publisher = make_publisher()
    make_target(publisher=publisher)
    source = table_source(publisher, CONNECTION, "MarketplaceLeads")
    assert "AccountKey" not in raw_config(source)

    # When K2 is put first and the rotation runs
    settings.FIELD_ENCRYPTION_KEYS = [K2, K1]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    # Then both rows were rotated, and the source reads with K2 alone
    assert out.getvalue() == (
        "Re-encrypted 1 CRM target configurations. Re-encrypted 1 inbound sources.\n"
    )
    token = raw_config(source).encode()
    assert json.loads(Fernet(K2).decrypt(token)) == {"storageAccountConnectionString": CONNECTION}
    with pytest.raises(InvalidToken):
        Fernet(K1).decrypt(token)
    settings.FIELD_ENCRYPTION_KEYS = [K2]
    assert InboundSource.objects.get(pk=source.pk).config["storageAccountConnectionString"] == (
        CONNECTION
    )
