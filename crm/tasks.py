"""The beat tasks of the delivery side: thin, and safe to run twice.

The tasks that a wake-up queues (crm.deliver_target, crm.send_test_lead) live in
crm.services, beside the wake-up."""

from celery import shared_task

from crm import selectors, services
from crm.referrals.tasks import referrals_sync  # noqa: F401  (Celery discovers crm.tasks)


@shared_task(name="crm.sweep")
def sweep() -> None:
    """Beat, every few seconds: wake a worker for every target with due or stuck rows
    and no wake-up queued or drain running. A lost message, a killed worker or an
    emptied broker only delays a delivery."""
    services.targets_sweep()


@shared_task(name="crm.delivery_health_refresh")
def delivery_health_refresh() -> None:
    """Beat, every five minutes: recount the dashboard's delivery health into the cache."""
    selectors.delivery_health_refresh()
