from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import capfirst

from crm import targets
from crm.models import Delivery, ReferralConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every CRM target's configuration, every Partner Center connection's "
        "secrets, every erasure delivery's lookup and every other app's encrypted column "
        "(inbound Azure Table sources) under the first key of FIELD_ENCRYPTION_KEYS. Put the "
        "new key first, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                rotated = targets.crm_configs_rotate_keys()
                connections = targets.encrypted_rows_rotate(
                    model=ReferralConnection, field="secrets", label="Partner Center connection"
                )
                others = [
                    (
                        model,
                        targets.encrypted_rows_rotate(
                            model=model, field=field, label=capfirst(model._meta.verbose_name)
                        ),
                    )
                    for model, field in targets.encrypted_fields_above_crm()
                ]
                lookups = targets.encrypted_rows_rotate(
                    model=Delivery, field="lookup", label="Erasure delivery"
                )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        message = f"Re-encrypted {rotated} CRM target configurations."
        if connections:
            message += f" Re-encrypted {connections} Partner Center connections."
        for model, count in others:
            if count:
                message += f" Re-encrypted {count} {model._meta.verbose_name_plural}."
        if lookups:
            message += f" Re-encrypted {lookups} erasure deliveries' lookups."
        self.stdout.write(self.style.SUCCESS(message))
