"""Celery tasks of the leads app: thin wrappers that take ids and call one service."""

from celery import shared_task

from leads import rescoring


@shared_task(name="leads.rescore_publisher")
def rescore_publisher(run_id: int) -> None:
    rescoring.rescore_run_execute(run_id=run_id)
