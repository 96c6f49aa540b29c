"""A JSON field encrypted at rest with MultiFernet under FIELD_ENCRYPTION_KEYS.

It sits at the bottom layer so that every app can encrypt a column: CRM targets' configs
(crm), Azure Table connection strings (inbound), publishers' DKIM keys (leads.sending).

The first key encrypts; every key decrypts, so keys rotate by putting the new key
first and running `manage.py rotate_encryption_keys` (DESIGN §5, reference S4).
"""

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each)."
        ) from exc


def field_fernet() -> MultiFernet:
    """The MultiFernet for the keys in settings now (tests may override them)."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


class EncryptedJSONField(models.TextField):
    """Stores a JSON document as a Fernet token; Python code only ever sees the dict."""

    description = "JSON encrypted with MultiFernet"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return self.decrypt(value)

    def to_python(self, value):
        if value is None or isinstance(value, (dict, list)):
            return value
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            return self.decrypt(value)

    def get_prep_value(self, value):
        if value is None:
            return value
        plaintext = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return field_fernet().encrypt(plaintext.encode()).decode()

    def value_to_string(self, obj):
        # Serialization (dumpdata) must not leak the secrets either.
        return self.get_prep_value(self.value_from_object(obj))

    @staticmethod
    def decrypt(token: str):
        try:
            return json.loads(field_fernet().decrypt(token.encode()))
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                "An encrypted column (a CRM configuration, a DKIM key…) cannot be decrypted "
                "with FIELD_ENCRYPTION_KEYS. "
                "Was a key removed before `rotate_encryption_keys` ran?"
            ) from exc
