from django.core.management.base import BaseCommand, CommandError

from inbound import sources
from leads.catalog.storefronts import Storefront
from leads.models import Listing


class Command(BaseCommand):
    help = (
        "Create the Partner Center inbound URL of the listing with this offer id (a live "
        "URL is rotated: the old one keeps working for INBOUND_TOKEN_GRACE_HOURS). The "
        "full URL is printed once, on the last line of stdout; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--offer", required=True, help="The listing's offer id.")
        parser.add_argument(
            "--storefront",
            choices=Storefront.values,
            help="The listing's storefront, when the offer is listed on both.",
        )

    def handle(self, *args, offer: str, storefront: str | None = None, **options):
        listings = Listing.objects.filter(offer_id__iexact=offer.strip())
        if storefront:
            listings = listings.filter(storefront=storefront)
        matches = list(listings.select_related("publisher").order_by("storefront")[:3])
        if not matches:
            where = f" on {storefront}" if storefront else ""
            raise CommandError(f"No listing has the offer id {offer!r}{where}.")
        if len(matches) > 1:
            found = ", ".join(f"{m.storefront} ({m.publisher})" for m in matches)
            raise CommandError(
                f"The offer id {offer!r} is listed on several storefronts: {found}. "
                "Add --storefront."
            )
        (listing,) = matches
        source, token = sources.inbound_url_create(listing=listing)
        rotated = bool(source.previous_token_hash)
        self.stderr.write(
            f"{'Rotated' if rotated else 'Created'} the inbound URL of {listing.name} "
            f"({listing.get_storefront_display()}, {listing.publisher})."
        )
        if rotated:
            self.stderr.write("The previous URL keeps working until its grace period ends.")
        self.stderr.write(
            "In Partner Center, open the offer's Customer leads, choose HTTPS endpoint, and "
            "paste this URL. Store it now: it is not shown again."
        )
        self.stdout.write(sources.inbound_url_absolute(token))
