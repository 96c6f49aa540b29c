"""The CSV export's stream, the way it is written now against the way it was written
before (model instances, one write per line), in one process on one database.

    BENCH_PORTAL_DB=lp_bench_portal .venv/bin/python bench/export_ab.py [--rounds 2]

It needs a database that bench/portal.py kept (`bench/portal.py --keep`, any --leads),
migrated to the current schema. Each round reads Contoso's whole marketplace export
(`created_from=2000-01-01`) through `leads_for_export` and `csv_lines` ("now"), then through
the earlier path ("before": the same filter and sort, model instances with their campaigns
joined, `safe_cell` per value, one csv.writer call and one chunk per line), and prints rows
a second of wall time and of this process's CPU time, with the load average.
"""

import argparse
import base64
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
ENV = {
    "DATABASE_URL": f"{SERVER}/{os.environ.get('BENCH_PORTAL_DB', 'lp_bench_portal')}",
    "DEBUG": "0",
    "SECRET_KEY": "bench-portal-secret-key-not-for-production-0123456789",
    "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(b"lead-portal-bench-portal-key-32b").decode(),
    "REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13"),
    "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER", "redis://127.0.0.1:6379/14"),
    "ALLOWED_HOSTS": "localhost",
    "LOG_LEVEL": "ERROR",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}


class _Line:
    def write(self, text: str) -> str:
        return text


def _before(publisher, filters, sort) -> tuple[int, int]:
    """The export as it was written until 2026-12-05."""
    from django.db.models import Case, Exists, OuterRef, Subquery, Value, When
    from django.db.models.functions import Concat, Trim

    from leads.catalog.storefronts import Storefront
    from leads.lifecycle import csv_export, selectors
    from leads.models import LeadActivity

    activities = LeadActivity.objects.filter(lead=OuterRef("pk"))
    storefronts = Trim(
        Concat(
            *(
                Case(When(Exists(activities.filter(storefront=v)), then=Value(f"{v} ")),
                     default=Value(""))
                for v in Storefront.values
            ),
            Value(""),
        )
    )  # fmt: skip
    latest_listing = activities.order_by("-occurred_at", "-id").values("listing__name")[:1]
    leads = selectors.leads_matching(publisher=publisher, filters=filters).alias(
        **{alias: expression for alias, expression, _kind in sort.keys}
    )
    direction = "-" if sort.descending else ""
    leads = (
        leads.annotate(export_storefronts=storefronts, export_listing=Subquery(latest_listing))
        .select_related("first_campaign", "latest_campaign")
        .order_by(*[f"{direction}{alias}" for alias, _e, _k in sort.keys], f"{direction}id")
    )
    writer = csv.writer(_Line(), quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    rows, size = 0, len(writer.writerow(csv_export.HEADER))
    for lead in leads.iterator(chunk_size=2000):
        row = [
            lead.uuid, lead.created_at, lead.first_name, lead.last_name, lead.email, lead.phone,
            lead.country, lead.company, lead.title, lead.status, lead.score, lead.origin,
            lead.export_storefronts, lead.export_listing,
            lead.first_campaign.name if lead.first_campaign else None,
            lead.latest_campaign.name if lead.latest_campaign else None,
            lead.marketing_consent, lead.is_test,
        ]  # fmt: skip
        size += len(writer.writerow([csv_export.safe_cell(v) for v in row]).encode())
        rows += 1
    return rows, size


def _now(publisher, filters, sort) -> tuple[int, int]:
    from leads.lifecycle import csv_export, selectors

    leads = selectors.leads_for_export(publisher=publisher, filters=filters, sort=sort)
    rows, size = 0, 0
    for chunk in csv_export.csv_lines(leads.iterator(chunk_size=2000)):
        size += len(chunk.encode())
        rows += chunk.count("\n")
    return rows - 1, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    os.environ.update(ENV)
    import django

    django.setup()
    from django.http import QueryDict

    from leads.forms import LeadFilterForm
    from portal.models import Publisher

    publisher = Publisher.objects.get(slug="contoso-software")
    form = LeadFilterForm(QueryDict("created_from=2000-01-01"), publisher=publisher)
    filters, sort = form.filters(origin="marketplace"), form.sort_choice()
    for _round in range(options.rounds):
        for name, export in (("before", _before), ("now", _now)):
            started, cpu = time.perf_counter(), time.process_time()
            rows, size = export(publisher, filters, sort)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"{name:7} {rows:>9,} rows {wall:6.2f} s {rows / wall:>9,.0f} rows/s  "
                f"CPU {cpu:5.2f} s {rows / cpu:>9,.0f} rows/CPU-s  {size / 2**20:5.1f} MiB  "
                f"load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
