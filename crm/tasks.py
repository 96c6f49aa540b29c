"""Celery tasks of the delivery side: thin, by id, and safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from crm import delivery, selectors, services


@shared_task(name="crm.deliver_target")
def deliver_target(target_id: int) -> None:
    """Drain one target's due deliveries. At most CRM_TARGET_DRAINS tasks drain one
    target at a time (kept below the worker concurrency), so a slow or dead CRM holds a
    few workers, never all of them; the others serve other targets."""
    lock = _take_drain_slot(target_id)
    if lock is None:
        return
    try:
        report = delivery.deliveries_drain(target_id=target_id)
    finally:
        cache.delete(lock)
    if report.attempted and not report.rate_limited_for:
        # More may be due: hand over to fresh tasks (one per free slot) rather than hold
        # the worker, so a backlog is drained in parallel.
        services.deliveries_wake(target_ids={target_id}, copies=settings.CRM_TARGET_DRAINS)


def _take_drain_slot(target_id: int) -> str | None:
    # A killed worker's slot lapses after one budget and one call, like its leases.
    timeout = int(settings.CRM_TASK_BUDGET_SECONDS + settings.CRM_TOTAL_TIMEOUT) + 1
    for slot in range(settings.CRM_TARGET_DRAINS):
        lock = f"leadportal:crm:draining:{target_id}:{slot}"
        if cache.add(lock, 1, timeout=timeout):
            return lock
    return None


@shared_task(name="crm.sweep")
def sweep() -> None:
    """Beat, every few seconds: wake a worker for every target with due or stuck rows.
    A lost message, a killed worker or an emptied broker only delays a delivery."""
    targets = delivery.due_targets()
    if targets:
        services.deliveries_wake(target_ids=set(targets))


@shared_task(name="crm.delivery_health_refresh")
def delivery_health_refresh() -> None:
    """Beat, every five minutes: recount the dashboard's delivery health into the cache."""
    selectors.delivery_health_refresh()
