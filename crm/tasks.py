"""Celery tasks of the delivery side: thin, by id, and safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from crm import delivery, services


@shared_task(name="crm.deliver_target")
def deliver_target(target_id: int) -> None:
    """Drain one target's due deliveries. One worker per target at a time, so a slow or
    dead CRM holds one worker, never all of them; the others serve other targets."""
    lock = f"leadportal:crm:draining:{target_id}"
    # A killed worker's lock lapses after one budget and one call, like its leases.
    timeout = int(settings.CRM_TASK_BUDGET_SECONDS + settings.CRM_TOTAL_TIMEOUT) + 1
    if not cache.add(lock, 1, timeout=timeout):
        return
    try:
        report = delivery.deliveries_drain(target_id=target_id)
    finally:
        cache.delete(lock)
    if report.attempted and not report.rate_limited_for:
        # More may be due: hand over to a fresh task rather than hold the worker.
        services.deliveries_wake(target_ids={target_id})


@shared_task(name="crm.sweep")
def sweep() -> None:
    """Beat, every few seconds: wake a worker for every target with due or stuck rows.
    A lost message, a killed worker or an emptied broker only delays a delivery."""
    targets = delivery.due_targets()
    if targets:
        services.deliveries_wake(target_ids=set(targets))
