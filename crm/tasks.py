"""Celery tasks of the delivery side: thin, by id, and safe to run twice."""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from crm import delivery, selectors, services


@shared_task(name="crm.deliver_target")
def deliver_target(target_id: int, wake_slot: int | None = None) -> None:
    """Drain one target's due deliveries. At most CRM_TARGET_DRAINS tasks drain one
    target at a time (kept below the worker concurrency), so a slow or dead CRM holds a
    few workers, never all of them; the others serve other targets."""
    if wake_slot is not None:
        services.wake_taken(target_id=target_id, slot=wake_slot)
    lock = _take_drain_slot(target_id)
    if lock is None:
        return
    try:
        report = delivery.deliveries_drain(target_id=target_id)
    finally:
        cache.delete(lock)
    if not report.rate_limited_for and delivery.target_has_due(target_id=target_id):
        # Rows are due now (a backlog past the budget, or leads that came in while this
        # task held the slot): hand over to fresh tasks, one per free slot, rather than
        # hold the worker, so a backlog is drained in parallel. A target whose rows are
        # all backing off wakes nothing: the sweep finds them when they are due.
        services.deliveries_wake(target_ids={target_id}, copies=settings.CRM_TARGET_DRAINS)


def _drain_slot(target_id: int, slot: int) -> str:
    return f"leadportal:crm:draining:{target_id}:{slot}"


def _take_drain_slot(target_id: int) -> str | None:
    # A killed worker's slot lapses after one budget and one call, like its leases.
    timeout = int(settings.CRM_TASK_BUDGET_SECONDS + settings.CRM_TOTAL_TIMEOUT) + 1
    for slot in range(settings.CRM_TARGET_DRAINS):
        lock = _drain_slot(target_id, slot)
        if cache.add(lock, 1, timeout=timeout):
            return lock
    return None


def _draining_fully(target_ids: list[int]) -> set[int]:
    """The targets whose every drain slot is taken: a wake-up would only be dropped."""
    slots = {
        _drain_slot(target_id, slot): target_id
        for target_id in target_ids
        for slot in range(settings.CRM_TARGET_DRAINS)
    }
    taken = cache.get_many(list(slots))
    held: dict[int, int] = {}
    for key in taken:
        held[slots[key]] = held.get(slots[key], 0) + 1
    return {target_id for target_id, count in held.items() if count >= settings.CRM_TARGET_DRAINS}


@shared_task(name="crm.sweep")
def sweep() -> None:
    """Beat, every few seconds: wake a worker for every target with due or stuck rows
    and no wake-up queued or drain running. A lost message, a killed worker or an
    emptied broker only delays a delivery."""
    targets = delivery.due_targets()
    if not targets:
        return
    waking = set(targets) - _draining_fully(targets)
    if waking:
        services.deliveries_wake(target_ids=waking)


@shared_task(name="crm.send_test_lead")
def send_test_lead(delivery_id: int) -> None:
    """The portal's "send a test lead", off the web request: one attempt, its result
    written to the `test` delivery that the target's page polls."""
    services.target_test_run(delivery_id=delivery_id)


@shared_task(name="crm.delivery_health_refresh")
def delivery_health_refresh() -> None:
    """Beat, every five minutes: recount the dashboard's delivery health into the cache."""
    selectors.delivery_health_refresh()
