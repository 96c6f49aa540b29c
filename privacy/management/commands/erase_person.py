from django.core.management.base import BaseCommand, CommandError

from privacy import selectors, services
from privacy.commands import add_person_arguments, publisher_from_slug
from privacy.models import AccessLogEntry


class Command(BaseCommand):
    help = (
        "Erase an email address (Art. 17): every copy in Lead Portal is removed or replaced "
        "by a placeholder, and every CRM that received the person is told. Without --yes, "
        "prints what would happen and exits non-zero."
    )

    def add_arguments(self, parser):
        add_person_arguments(parser)
        parser.add_argument("--reason", default="Erasure request (manage.py erase_person)")
        parser.add_argument("--yes", action="store_true", help="Erase (otherwise: the plan).")

    def handle(self, *args, email, publisher=None, reason, yes, **options):
        owner = publisher_from_slug(publisher)
        if not yes:
            self._plan(email, owner)
            raise CommandError("Nothing was erased: run again with --yes to erase.")
        report = services.person_erase(
            email=email,
            publisher=owner,
            actor=None,
            reason=reason,
            source=AccessLogEntry.Source.COMMAND,
        )
        if report.is_noop:
            if report.already_erased:
                when = report.already_erased[0].created_at
                self.stdout.write(f"Already erased on {when:%Y-%m-%d %H:%M} UTC: nothing to do.")
                return
            raise CommandError("Nothing is stored about this address.")
        self.stdout.write(f"Erased {len(report.lead_ids)} lead(s).")
        for store, count in sorted(report.counts.items()):
            self.stdout.write(f"  {store}: {count} row(s)")
        self._recipients(report.recipients)
        for record in report.records:
            self.stdout.write(f"Erasure record {record.uuid}")

    def _plan(self, email, owner):
        records = selectors.person_records(email=email, publisher=owner)
        if records.is_empty:
            self.stdout.write("Nothing is stored about this address.")
            return
        self.stdout.write("Would erase:")
        for store, count in sorted(records.counts().items()):
            self.stdout.write(f"  {store}: {count} row(s)")
        recipients = selectors.recipients_for(lead_ids=records.lead_ids)
        self.stdout.write("Would tell:" if recipients else "No CRM received this person.")
        for recipient in recipients:
            self.stdout.write(f"  {recipient['name']} ({recipient['kind']})")

    def _recipients(self, recipients):
        if not recipients:
            self.stdout.write("No CRM target was told: none had received this person.")
            return
        self.stdout.write("Told (erasure deliveries queued):")
        for recipient in recipients:
            self.stdout.write(f"  {recipient['target_name']} ({recipient['kind']})")
