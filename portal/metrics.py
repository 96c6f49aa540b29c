"""The application's Prometheus series, counted where their events happen.

The apps import this module (it sits at the bottom of the layers) and increment; the
/metrics view (portal.shell.observability) adds the figures read at scrape time (the
outbox, inbound backlog, Celery queues). With PROMETHEUS_MULTIPROC_DIR set, before the
process starts, prometheus-client keeps each process's values in files in that folder
and the scrape sums them over every process of the machine: gunicorn's workers and the
Celery workers' pool processes alike (docs/operations.md, "Metrics").

Labels are bounded: a storefront, a CRM kind, an outcome, an endpoint's route. Never a
lead, an email, a publisher or a target's name.
"""

from prometheus_client import Counter, Histogram

PREFIX = "leadportal"

INTAKE_REQUESTS = Counter(
    f"{PREFIX}_intake_requests",
    "Intake API requests by endpoint route and HTTP status.",
    ["endpoint", "status"],
)
INTAKE_LATENCY = Histogram(
    f"{PREFIX}_intake_request_duration_seconds",
    "Intake API request latency.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LEADS_CREATED = Counter(
    f"{PREFIX}_leads_created", "Leads created by intake (a new person).", ["storefront"]
)
LEADS_CONSOLIDATED = Counter(
    f"{PREFIX}_leads_consolidated",
    "Storefront interactions added to an existing lead (the same person again).",
    ["storefront"],
)
DELIVERIES = Counter(
    f"{PREFIX}_deliveries",
    "Delivery attempts' results by CRM kind: delivered, retrying or failed.",
    ["kind", "outcome"],
)
DELIVERY_RETRIES = Counter(
    f"{PREFIX}_delivery_retries", "Delivery attempts that scheduled a retry.", ["kind"]
)
NURTURE_EMAILS = Counter(
    f"{PREFIX}_nurture_emails",
    "Nurture emails by outcome: sent, bounced, deferred.",
    ["outcome"],
)
SUPPRESSIONS = Counter(
    f"{PREFIX}_suppressions",
    "Addresses added to a publisher's suppression list, by reason.",
    ["reason"],
)
INBOUND_ITEMS = Counter(
    f"{PREFIX}_inbound_items",
    "Partner Center inbound items processed, by source kind and outcome.",
    ["kind", "outcome"],
)
INBOUND_LAG = Histogram(
    f"{PREFIX}_inbound_lag_seconds",
    "From an inbound item's receipt to its processing.",
    ["kind"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
)
