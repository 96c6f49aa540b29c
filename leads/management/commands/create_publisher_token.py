from django.core.management.base import BaseCommand, CommandError

from leads.intake import api_keys
from leads.models import PublisherApiToken
from portal.models import Publisher


class Command(BaseCommand):
    help = (
        "Create a publisher API token (--publisher SLUG --name NAME) for GET "
        "/api/v1/publisher/leads, or revoke one (--revoke PREFIX). The token is printed "
        "once on stdout; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--publisher", help="The publisher's slug.")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")
        parser.add_argument(
            "--revoke",
            metavar="PREFIX",
            help="Revoke the live token with this prefix (lpt_ and 4 characters).",
        )

    def handle(self, *args, publisher=None, name="", revoke=None, **options):
        if revoke:
            self._revoke(prefix=revoke, publisher_slug=publisher)
            return
        if not publisher or not name:
            raise CommandError("Give --publisher SLUG and --name NAME, or --revoke PREFIX.")
        owner = Publisher.objects.filter(slug=publisher).first()
        if owner is None:
            raise CommandError(f"No publisher with the slug {publisher!r}.")
        api_token, token = api_keys.publisher_token_create(publisher=owner, name=name)
        self.stderr.write(f"Created publisher API token {api_token.prefix}… ({name}) for {owner}.")
        self.stderr.write("Store it now: it is not shown again.")
        self.stdout.write(token)

    def _revoke(self, *, prefix: str, publisher_slug: str | None) -> None:
        tokens = PublisherApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True)
        if publisher_slug:
            tokens = tokens.filter(publisher__slug=publisher_slug)
        matches = list(tokens.select_related("publisher")[:2])
        if not matches:
            raise CommandError(f"No live publisher API token with the prefix {prefix!r}.")
        if len(matches) > 1:
            # Prefixes are short, so two publishers' tokens can share one.
            raise CommandError(
                f"Several live tokens have the prefix {prefix!r}; add --publisher SLUG."
            )
        (api_token,) = matches
        api_keys.publisher_token_revoke(api_token=api_token)
        self.stderr.write(
            f"Revoked publisher API token {api_token.prefix}… ({api_token.name}) "
            f"of {api_token.publisher}."
        )
