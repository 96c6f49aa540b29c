"""The encrypted field, where crm's and inbound's migrations name it (portal.encrypted_fields)."""

from portal.encrypted_fields import EncryptedJSONField, field_fernet

__all__ = ["EncryptedJSONField", "field_fernet"]
