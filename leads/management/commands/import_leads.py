from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.intake import csv_import
from portal.models import Publisher


class Command(BaseCommand):
    help = (
        "Import a CSV file of leads for one publisher, through the same intake as the API. "
        "Prints one line per row (created, consolidated, duplicate or error) and a summary; "
        "reads Partner Center's leads export by its own columns (at most 5,000 rows) and "
        "reconciles it: leads already received are not imported again, the missing ones are. "
        "exits non-zero when a row failed. With --atomic, nothing is written unless every "
        "row succeeds. Accepted headers: docs/import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (UTF-8, UTF-16 or cp1252; , ; TAB or |).")
        parser.add_argument("--publisher", required=True, help="The publisher's slug.")
        parser.add_argument(
            "--atomic", action="store_true", help="All or nothing: roll back if any row fails."
        )

    def handle(self, *args, file: str, publisher: str, atomic: bool = False, **options):
        owner = Publisher.objects.filter(slug=publisher).first()
        if owner is None:
            raise CommandError(f"No publisher has the slug {publisher!r}.")
        path = Path(file)
        try:
            csv_import.size_check(size=path.stat().st_size)
            content = path.read_bytes()
            report = csv_import.leads_import(publisher=owner, content=content, atomic=atomic)
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {file}") from exc
        except (IsADirectoryError, PermissionError) as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        except csv_import.ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)
        if report.failed:
            written = "nothing was imported" if report.rolled_back else "the others were imported"
            raise CommandError(f"{_rows(report.failed)} failed; {written}.")

    def _print(self, report: csv_import.ImportReport) -> None:
        if report.ignored_columns:
            self.stdout.write("Ignored columns: " + ", ".join(report.ignored_columns))
        if report.partner_center:
            self.stdout.write("Read as Partner Center's leads export (docs/import.md).")
        for row in report.rows:
            missing = report.partner_center and row.status in ("created", "consolidated")
            self.stdout.write(f"{row} (missing)" if missing else str(row))
        statuses = ("created", "consolidated", "duplicate")
        if report.partner_center:
            statuses += ("received",)
        counts = ", ".join(f"{report.count(status)} {status}" for status in statuses)
        self.stdout.write(f"{_rows(len(report.rows))}: {counts}, {report.failed} failed.")
        if report.partner_center:
            self.stdout.write(
                f"Reconciled with Lead Portal: {report.missing} missing (now imported), "
                f"{report.count('received') + report.count('duplicate')} already here."
            )
        if report.rolled_back:
            self.stdout.write("Rolled back (--atomic): nothing was imported.")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
