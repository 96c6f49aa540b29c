"""The retention beat task: thin, and safe to run twice (privacy.retention.services)."""

from celery import shared_task

from privacy import services as privacy_services
from privacy.retention import services


@shared_task(name="privacy.retention_run")
def retention_run() -> None:
    """Beat, daily at RETENTION_HOUR: begin (or take over) the retention run and work it
    for RETENTION_TASK_BUDGET_SECONDS; a run not done yet queues the next stretch."""
    run = services.retention_run(erase=privacy_services.leads_erase)
    if run is not None and run.status == run.Status.RUNNING:
        retention_run.delay()
