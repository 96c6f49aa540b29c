"""The beat tasks of the delivery side: thin, and safe to run twice.

The tasks that a wake-up queues (crm.deliver_target, crm.send_test_lead) live in
crm.services, beside the wake-up."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from crm import health, services
from crm.referrals.tasks import referrals_sync  # noqa: F401  (Celery discovers crm.tasks)

logger = logging.getLogger(__name__)


@shared_task(name="crm.sweep")
def sweep() -> None:
    """Beat, every few seconds: wake a worker for every target with due or stuck rows
    and no wake-up queued or drain running. A lost message, a killed worker or an
    emptied broker only delays a delivery."""
    services.targets_sweep()


@shared_task(name="crm.delivery_health_refresh")
def delivery_health_refresh() -> None:
    """Beat, every five minutes: recount the dashboard's delivery health into the cache."""
    health.delivery_health_refresh()


@worker_ready.connect(weak=False)
def _wake_marks_forget(**kwargs) -> None:
    """A worker (re)started: let the next sweep wake every target with due rows, even one
    whose wake-up message a killed worker took along (crm.services.wake_marks_forget)."""
    try:
        services.wake_marks_forget()
    except Exception:  # the database or the cache is away: the marks lapse on their own
        logger.warning("crm.wake.marks_not_forgotten")
