from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from crm import targets


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted configuration (CRM targets, inbound Azure Table sources) "
        "under the first key of FIELD_ENCRYPTION_KEYS. Put the new key first, run this, then "
        "drop the old key."
    )

    def handle(self, *args, **options):
        try:
            rotated = targets.crm_configs_rotate_keys()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} configurations."))
