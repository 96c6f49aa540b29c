"""Suppressions move from a bare SHA-256 of the address to a keyed HMAC (issue 9).

A row holds only the SHA-256, never the address, so the HMAC is recomputed from the
publisher's leads whose normalized address has that SHA-256. A row whose address is
known nowhere any more (the lead was erased) keeps its SHA-256 and is marked
`is_legacy`; lookups keep matching it by the SHA-256, so no opt-out is ever lost.

The key is derived here as leads.address_hash derives it at the time of writing (a
migration must not change when that module does).
"""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations, models

PURPOSE = "leadportal.suppression"


def _key() -> bytes:
    secret = settings.SUPPRESSION_HASH_KEY or settings.SECRET_KEY
    return hashlib.sha256((PURPOSE + secret).encode()).digest()


def _hmac_sql(column: str, key: bytes) -> tuple[str, list[bytes]]:
    padded = key.ljust(64, b"\0")
    outer = bytes(byte ^ 0x5C for byte in padded)
    inner = bytes(byte ^ 0x36 for byte in padded)
    sql = f"encode(sha256(%s::bytea || sha256(%s::bytea || convert_to({column}, 'UTF8'))), 'hex')"
    return sql, [outer, inner]


_SHA256_SQL = "encode(sha256(convert_to(l.email_normalized, 'UTF8')), 'hex')"


def to_hmac(apps, schema_editor):
    Suppression = apps.get_model("leads", "Suppression")
    Suppression.objects.update(is_legacy=True)
    if schema_editor.connection.vendor == "postgresql":
        hmac_sql, params = _hmac_sql("l.email_normalized", _key())
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE leads_suppression su SET email_hash = {hmac_sql}, is_legacy = false "  # noqa: S608
                "FROM (SELECT DISTINCT publisher_id, email_normalized FROM leads_lead) l "
                f"WHERE l.publisher_id = su.publisher_id AND su.email_hash = {_SHA256_SQL}",
                params,
            )
        return
    # The first-run SQLite database: small, so hashed in Python.
    Lead = apps.get_model("leads", "Lead")
    key = _key()
    for row in Suppression.objects.all():
        for email in (
            Lead.objects.filter(publisher_id=row.publisher_id)
            .values_list("email_normalized", flat=True)
            .distinct()
        ):
            if hashlib.sha256(email.encode()).hexdigest() == row.email_hash:
                row.email_hash = hmac.new(key, email.encode(), hashlib.sha256).hexdigest()
                row.is_legacy = False
                row.save(update_fields=["email_hash", "is_legacy"])
                break


def to_sha256(apps, schema_editor):
    """Back to bare SHA-256 where the address is known; the others cannot go back, and
    stay as they are (the previous code would not match them)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    hmac_sql, params = _hmac_sql("l.email_normalized", _key())
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE leads_suppression su SET email_hash = {_SHA256_SQL}, is_legacy = true "  # noqa: S608
            "FROM (SELECT DISTINCT publisher_id, email_normalized FROM leads_lead) l "
            f"WHERE l.publisher_id = su.publisher_id AND NOT su.is_legacy "
            f"AND su.email_hash = {hmac_sql}",
            params,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0008_lead_list_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="suppression",
            name="is_legacy",
            field=models.BooleanField(
                default=False,
                help_text="The hash is the bare SHA-256 of the address, from before the HMAC.",
                verbose_name="legacy SHA-256",
            ),
        ),
        migrations.AlterField(
            model_name="suppression",
            name="email_hash",
            field=models.CharField(max_length=64, verbose_name="email (HMAC-SHA256)"),
        ),
        migrations.RunPython(to_hmac, to_sha256),
    ]
