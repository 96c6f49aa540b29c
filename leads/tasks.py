"""Celery tasks of the leads app: thin wrappers that take ids and call one service."""

from celery import shared_task

from leads.campaigns import selectors as campaign_selectors
from leads.notifications import send as notifications_send
from leads.notifications import services as notifications
from leads.nurture import send as nurture_send
from leads.reporting import rollup
from leads.scoring import rescoring
from leads.sending import services as sending


@shared_task(name="leads.rescore_publisher")
def rescore_publisher(run_id: int) -> None:
    rescoring.rescore_run_execute(run_id=run_id)


@shared_task(name="leads.rollup_recent")
def rollup_recent() -> None:
    """Keep the dashboard's daily figures of today and yesterday current, and the campaign
    funnels that the dashboard and the campaign pages read."""
    rollup.rollup_recent()
    campaign_selectors.campaign_funnels_refresh()


@shared_task(name="leads.send_due_nurture_steps")
def send_due_nurture_steps() -> None:
    """Beat, every minute: send the due nurture steps (leads.nurture.send)."""
    nurture_send.nurture_send_due()


@shared_task(name="leads.settle_interrupted_nurture")
def settle_interrupted_nurture() -> None:
    """Beat, every few seconds: settle the sends a dead sender left `sending` once its
    lease ran out (leads.nurture.send.nurture_interrupted_settle)."""
    nurture_send.nurture_interrupted_settle()


@shared_task(name="leads.recheck_sending_identities")
def recheck_sending_identities() -> None:
    """Beat, hourly: check again the sending identities last checked a day ago or more."""
    sending.identities_recheck()


PLAN_BATCHES_PER_RUN = 50  # a flood is planned over several runs, sending in between


@shared_task(name="leads.notify_new_leads")
def notify_new_leads() -> None:
    """Beat, every LEAD_NOTIFY_SWEEP_SECONDS: plan the new activities' notifications, then
    send the due new-lead emails (leads.notifications)."""
    for _batch in range(PLAN_BATCHES_PER_RUN):
        if not notifications.notifications_plan():
            break
    notifications_send.notifications_send_due()
