from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from privacy import journal, services


class Command(BaseCommand):
    help = (
        "Apply the erasure journal again, after a database restore, so that a restored "
        "backup never brings an erased person back. Idempotent (docs/privacy.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--journal",
            dest="path",
            metavar="PATH",
            help="The journal file (default: PRIVACY_JOURNAL_PATH).",
        )

    def handle(self, *args, path=None, **options):
        path = Path(path) if path else None
        if path is not None and not path.exists():
            raise CommandError(f"No journal at {path}.")
        try:
            report = services.erasures_replay(entries=_entries(path))
        except (ValueError, KeyError) as exc:
            raise CommandError(f"The journal could not be read: {exc}") from exc
        self.stdout.write(
            f"{report.entries} erasure(s) in the journal; {report.erasures_applied} applied "
            f"again, {report.leads_erased} lead(s) erased, {report.inbound_items_erased} "
            "inbound item(s) that became no lead erased."
        )


def _entries(path):
    return journal.journal_entries(path=path)
