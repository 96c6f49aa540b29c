"""What the privacy commands share: the person's arguments, --publisher and the JSON encoder."""

import json

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from portal.models import Publisher


def add_person_arguments(parser) -> None:
    """The person's email address, and --publisher to look at one publisher's leads only."""
    parser.add_argument("email")
    parser.add_argument("--publisher", metavar="SLUG", help="Only this publisher's leads.")


def publisher_from_slug(slug: str | None) -> Publisher | None:
    """The publisher named by --publisher, or None for every publisher."""
    if not slug:
        return None
    publisher = Publisher.objects.filter(slug=slug).first()
    if publisher is None:
        raise CommandError(f"No publisher has the slug {slug!r}.")
    return publisher


def export_json(document: dict) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
