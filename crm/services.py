"""Writes for CRM targets. Delivery services join this module with the delivery issue."""

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from crm.fields import field_fernet
from crm.models import CrmTarget


@transaction.atomic
def crm_configs_rotate_keys() -> int:
    """Re-encrypt every target's config under the first FIELD_ENCRYPTION_KEYS key.

    All rows or none: an undecryptable row raises and rolls the whole rotation back.
    """
    fernet = field_fernet()
    # Cast to text so the raw token comes back, not the decrypted dict.
    rows = (
        CrmTarget.objects.select_for_update()
        .annotate(token=Cast("config", output_field=TextField()))
        .order_by("pk")
        .values_list("pk", "token")
    )
    rotated = 0
    for pk, token in rows:
        try:
            new_token = fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"CRM target {pk}: its config cannot be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS. Nothing was rotated."
            ) from exc
        # A plain-text Value writes the new token as is; the field would encrypt it again.
        CrmTarget.objects.filter(pk=pk).update(config=Value(new_token, output_field=TextField()))
        rotated += 1
    return rotated
