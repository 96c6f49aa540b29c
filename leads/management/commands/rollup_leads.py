"""Recompute the dashboard's daily lead figures, e.g. after a deploy or an import."""

from django.core.management.base import BaseCommand, CommandError

from leads.reporting import rollup
from portal.models import Publisher


class Command(BaseCommand):
    help = (
        "Recompute the daily lead figures (LeadDailyStat) of the last N days, and every "
        "cohort day of the Reports page (LeadCohortStat)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="How many days, today included.")
        parser.add_argument("--publisher", help="Only this publisher (its slug).")

    def handle(self, *args, days: int, publisher: str | None, **options):
        if days < 1:
            raise CommandError("--days must be at least 1.")
        publisher_ids = None
        if publisher:
            found = Publisher.objects.filter(slug=publisher).values_list("pk", flat=True)
            if not found:
                raise CommandError(f"No publisher with slug {publisher!r}.")
            publisher_ids = list(found)
        rows = rollup.rollup_backfill(days=days, publisher_ids=publisher_ids)
        self.stdout.write(f"Recomputed {days} days: {rows} rows.")
