"""Benchmark the retention task: leads erased per second, batches, peak memory.

    .venv/bin/python bench/retention.py
    .venv/bin/python bench/retention.py --leads 2000 --batch-size 500 --keep
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/retention.py

It creates the database `lp_bench_retention` and migrates it, then makes a publisher with
a retention of 12 months and N leads last active two years ago, each with a storefront
activity (and its raw payload), a consent record, a nurture email sent, and a delivery to
an HTTPS target, plus 100 recent leads that must stay. One process runs
`privacy.retention.services.retention_run` with the real erasure service (the code the beat
task `privacy.retention_run` runs) until the run is finished, under tracemalloc, and the
script prints the time, the leads erased per second, the batches and the peak memory
(Python allocations, and the process's maximum resident set). It checks that exactly the
N old leads were erased, in ceil(N / batch) erasures, and drops the database afterwards
unless --keep is given.
"""

import argparse
import json
import math
import os
import time

from harness import SERVER, database_name, figure_record, manage_output, scratch_database
from shell_seeds import PUBLISHER_WITH_CAMPAIGN

DATABASE = database_name("lp_bench_retention")

SEED = (
    PUBLISHER_WITH_CAMPAIGN
    + """
from datetime import timedelta
from django.utils import timezone
from crm.models import CrmTarget, Delivery
from leads.consent.models import ConsentRecord
from leads.models import EmailSend, Enrollment, Lead, LeadActivity, Listing
from leads.nurture import services as nurture
listing = Listing.objects.create(
    publisher=publisher, storefront="appsource", listing_type="app", name="Bench CRM",
    offer_id="benchpub.crm",
)
step = nurture.step_save(
    campaign=campaign, step=None, delay_minutes=0, subject="Hello {first_name}",
    body="Hi {first_name},\\n\\n{unsubscribe_url}",
)
target = CrmTarget(publisher=publisher, kind="https", name="Bench CRM", config={
    "httpsEndpointUrl": "https://crm.bench.example/leads",
    "signingSecret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
})
target.apply_kind_defaults()
target.save()
now = timezone.now()
old = now - timedelta(days=730)
for start in range(0, N + 100, 2000):
    stop = min(N + 100, start + 2000)
    leads = Lead.objects.bulk_create(
        Lead(publisher=publisher, email=f"lead{n}@customer.example",
             email_normalized=f"lead{n}@customer.example", first_name=f"Person{n}",
             last_name="Example", phone="+1 555 0100", company="Customer Inc",
             title="Buyer", country="GB", marketing_consent=True,
             last_activity_at=old if n < N else now)
        for n in range(start, stop)
    )
    activities = LeadActivity.objects.bulk_create(
        LeadActivity(lead=lead, listing=listing, storefront="appsource", action_code="PLT",
                     lead_source="AppSource-PLT|Bench CRM", description="Wants a demo",
                     occurred_at=lead.last_activity_at,
                     raw_payload={"UserDetails": {"Email": lead.email,
                                                  "FirstName": lead.first_name}})
        for lead in leads
    )
    ConsentRecord.objects.bulk_create(
        ConsentRecord(lead=lead, activity=activity, listing=listing, is_granted=True,
                      basis="explicit", reason="flag-true", recorded_at=lead.last_activity_at)
        for lead, activity in zip(leads, activities)
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(lead=lead, campaign=campaign, state="completed", last_position=1,
                   enrolled_at=lead.last_activity_at)
        for lead in leads
    )
    EmailSend.objects.bulk_create(
        EmailSend(enrollment=enrollment, step=step, status="sent", smtp_code=250,
                  sent_at=enrollment.enrolled_at)
        for enrollment in enrollments
    )
    Delivery.objects.bulk_create(
        Delivery(lead=lead, target=target, event="lead.qualified", status="delivered",
                 attempts=1, delivered_at=lead.last_activity_at,
                 response_excerpt="created")
        for lead in leads
    )
Lead.objects.filter(last_activity_at=old).update(created_at=old)
publisher.retention_months = 12
publisher.save(update_fields=["retention_months"])
"""
)

RUN = """
import json, resource, time, tracemalloc
from datetime import timedelta
from leads.models import Lead
from privacy import services as privacy_services
from privacy.models import ErasureRecord
from privacy.retention import services
limits = services.RetentionLimits(
    batch_size=BATCH, lease=timedelta(minutes=10), budget_seconds=3600
)
tracemalloc.start()
started = time.perf_counter()
run = services.retention_run(erase=privacy_services.leads_erase, limits=limits)
elapsed = time.perf_counter() - started
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({
    "elapsed": elapsed, "status": run.status, "erased": run.leads_erased,
    "batches": run.batches, "errors": run.errors, "peak_bytes": peak,
    "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "records": ErasureRecord.objects.count(),
    "placeholders": Lead.objects.filter(email_normalized__endswith="@erased.invalid").count(),
    "kept": Lead.objects.exclude(email_normalized__endswith="@erased.invalid").count(),
}))
"""


def _env() -> dict:
    return os.environ | {
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghij",
        "FIELD_ENCRYPTION_KEYS": "YmVuY2gtZmllbGQta2V5LTAwMDAwMDAwMDAwMDAwMDA=",
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "PORTAL_BASE_URL": "https://portal.bench.example",
        "ALLOWED_HOSTS": "localhost",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": os.environ.get("VAR_DIR", "/tmp/var-bench-retention"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000, help="leads past retention")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    env = _env()
    with scratch_database(DATABASE, keep=args.keep):
        manage_output(env, "migrate", "--no-input", "-v", "0")
        started = time.perf_counter()
        manage_output(env, "shell", code=f"N = {args.leads}\n" + SEED)
        seconds = time.perf_counter() - started
        print(f"seeded {args.leads:,} old leads (+100 recent) in {seconds:.1f} s")
        output = manage_output(env, "shell", code=f"BATCH = {args.batch_size}\n" + RUN)
        result = json.loads(output.strip().splitlines()[-1])

    rate = result["erased"] / result["elapsed"]
    print(
        f"erased {result['erased']:,} leads in {result['elapsed']:.1f} s "
        f"({rate:,.0f} leads/s) in {result['batches']} batches of {args.batch_size}, "
        f"{result['errors']} errors"
    )
    print(
        f"peak Python memory {result['peak_bytes'] / 2**20:.1f} MiB (tracemalloc); "
        f"max resident set {result['max_rss_kib'] / 1024:.0f} MiB"
    )
    figure_record(
        bench="retention", name="retention erasure", value=rate, unit="leads/s",
        lost=abs(args.leads - result["erased"]),
    )  # fmt: skip
    batches = math.ceil(args.leads / args.batch_size)
    expected = (args.leads, batches, batches, args.leads, 100, "finished")
    found = (
        result["erased"],
        result["batches"],
        result["records"],
        result["placeholders"],
        result["kept"],
        result["status"],
    )
    if found != expected:
        raise SystemExit(f"mismatch: expected {expected}, found {found}")


if __name__ == "__main__":
    main()
