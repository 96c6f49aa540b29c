from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an intake key: a storefront key (--storefront) for POST /api/v1/leads, or a "
        "Microsoft-seller key (--microsoft-seller) for POST /api/v1/referrals. The key is "
        "printed once; only its hash is stored."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--storefront", choices=Storefront.values)
        who.add_argument("--microsoft-seller", action="store_true")
        parser.add_argument("--name", default="", help="A label to recognise the key by.")

    def handle(self, *args, storefront=None, microsoft_seller=False, name="", **options):
        kind = ApiKey.Kind.MICROSOFT_SELLER if microsoft_seller else ApiKey.Kind.STOREFRONT
        label = name or (storefront or "microsoft-seller")
        try:
            api_key, key = api_keys.api_key_create(
                kind=kind, name=label, storefront=storefront or ""
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(f"Created {api_key.get_kind_display()} key {api_key.prefix}… ({label}).")
        self.stderr.write("Store it now: it is not shown again.")
        self.stdout.write(key)
