from django.core.management.base import BaseCommand, CommandError

from privacy import selectors, services
from privacy.commands import add_person_arguments, export_json, publisher_from_slug
from privacy.models import AccessLogEntry


class Command(BaseCommand):
    help = (
        "Export everything stored about an email address (Art. 15/20) as JSON on standard "
        "output: leads, activities with raw payloads, lifecycle, consent, emails sent, "
        "suppression, CRM deliveries. The export is written to the access log, not its content."
    )

    def add_arguments(self, parser):
        add_person_arguments(parser)

    def handle(self, *args, email, publisher=None, **options):
        owner = publisher_from_slug(publisher)
        records = selectors.person_records(email=email, publisher=owner)
        if records.is_empty:
            raise CommandError("Nothing is stored about this address.")
        services.person_access_record(
            records=records,
            user=None,
            source=AccessLogEntry.Source.COMMAND,
            action=AccessLogEntry.Action.EXPORT,
        )
        self.stdout.write(export_json(selectors.person_export(records=records)))
