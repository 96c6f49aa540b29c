"""Erasure deliveries: tell every CRM target that received a person (GDPR Art. 19).

The erase service (privacy) calls `crm.services.erasure_deliveries_create` in its own
transaction, before it blanks the lead. For every target that ever received the lead
(a delivery of it delivered, or attempted at least once) one `lead.erased` delivery is
written, carrying, encrypted in `lookup`, only what that target needs to find its
record (`lookup_for`). The lead's deliveries not yet sent are cancelled, and any that
a worker holds are refused when they come back (`selectors.erased_lead_ids`), so no placeholder
or late copy of the person reaches a CRM after the erasure.

Workers send erasure deliveries like any other (claim, lease, retries, the log), by
mode (`erasures_send`): the signed event (HTTPS), the CRM's delete API (delete mode:
Dynamics 365, Marketo, Azure Table) or an email to the target's contacts (notify mode,
Salesforce always, and the fallback when Dynamics says the lead was converted). When
the row settles (delivered or failed) its lookup is set to {} and its `outcome` says
what happened; privacy's erasure record reads them (`selectors.erasure_outcomes`).
"""

import logging
from dataclasses import replace
from datetime import timedelta

from django.core import mail
from django.db.models import Case, F, Max, Q, Value, When
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import alerts, selectors
from crm.connectors import ConfigurationError, ErasureRequest, Result, SendOptions, eraser_for
from crm.connectors.dynamics365_erase import entity_id_from
from crm.models import CrmTarget, Delivery, ErasureMode
from leads.nurture.send import BOUNCED, SENT, smtp_deliver

logger = logging.getLogger(__name__)

CANCELLED = "Not sent: the lead was erased."
LEAD_EVENTS = selectors.LEAD_EVENTS
# Erasers' answers that leave the record to a person: notify instead.
NOTIFY_FALLBACK = {"converted": Delivery.Outcome.CONVERTED, "unidentified": None}


def lookup_for(target: CrmTarget, lead, deliveries: list[Delivery]) -> dict:
    """What the target needs to find the lead's record, and nothing more. The email is
    kept only where the CRM finds the record by it (Marketo, Salesforce, and Dynamics
    365 when neither an alternate key nor a lead id is known)."""
    lookup = {"lead_id": str(lead.uuid)}
    if target.kind in {CrmTarget.Kind.MARKETO, CrmTarget.Kind.SALESFORCE}:
        lookup["email"] = lead.email
    elif target.kind == CrmTarget.Kind.DYNAMICS365:
        # The alternate key names the record the deliveries upserted; without one, the
        # lead ids Dataverse answered to the POSTs (OData-EntityId) do.
        attribute = str(target.config.get("alternateKey") or "").strip()
        ids = sorted({entity_id_from(d.response_excerpt) for d in deliveries} - {""})
        if attribute:
            lookup.update(alternate_key=attribute, key_value=str(lead.uuid))
        elif ids:
            lookup["entity_ids"] = ids
        else:
            lookup["email"] = lead.email
    elif target.kind == CrmTarget.Kind.AZURE_TABLE:
        lookup.update(
            table=str(target.config.get("tableName") or ""),
            partition_key=lead.publisher.publisher_id,
            row_keys=[str(d.idempotency_key) for d in deliveries],
        )
    return lookup


def erasure_rows(*, lead, now) -> list[Delivery]:
    """The unsaved lead.erased rows, one per target that received the lead. A target with
    a delivery in flight gets its erasure after that delivery's lease."""
    by_target: dict[int, list[Delivery]] = {}
    for delivery in selectors.lead_deliveries_received(lead=lead):
        by_target.setdefault(delivery.target_id, []).append(delivery)
    in_flight = dict(
        Delivery.objects.filter(lead=lead, status=Delivery.Status.SENDING)
        .values("target_id")
        .annotate(until=Max("lease_until"))
        .values_list("target_id", "until")
    )
    rows = []
    for target_id, deliveries in by_target.items():
        target = deliveries[0].target
        after = in_flight.get(target_id)
        rows.append(
            Delivery(
                lead=lead,
                target=target,
                event=Delivery.Event.ERASED,
                erasure_mode=target.effective_erasure_mode,
                lookup=lookup_for(target, lead, deliveries),
                next_attempt_at=max(now, after + timedelta(seconds=1)) if after else now,
            )
        )
    return rows


def lead_deliveries_close(*, lead, now) -> int:
    """Fail the lead's deliveries that wait to be sent (they would carry placeholders), and
    blank every answer and error its deliveries kept: a CRM's answer may quote the person.
    Call it after erasure_rows, which reads the Dynamics lead ids from those answers."""
    waiting = Q(status=Delivery.Status.PENDING)
    cancelled = waiting | Q(last_error=CANCELLED)  # erasing again keeps the reason
    return Delivery.objects.filter(lead=lead, event__in=LEAD_EVENTS).update(
        status=Case(When(waiting, then=Value(Delivery.Status.FAILED)), default=F("status")),
        last_error=Case(When(cancelled, then=Value(CANCELLED)), default=Value("")),
        response_excerpt="",
        updated_at=now,
    )


def rows_of_erased_leads_refuse(*, rows: list[Delivery]) -> list[Delivery]:
    """Refuse the claimed rows of leads erased since they were written: they would carry
    placeholders, or the person after the CRM was told to erase them."""
    lead_ids = {d.lead_id for d in rows if d.lead_id and d.event != Delivery.Event.ERASED}
    erased = selectors.erased_lead_ids(lead_ids=lead_ids) if lead_ids else set()
    refused = [d.pk for d in rows if d.lead_id in erased and d.event != Delivery.Event.ERASED]
    if refused:
        Delivery.objects.filter(pk__in=refused, status=Delivery.Status.SENDING).update(
            status=Delivery.Status.FAILED,
            last_error=CANCELLED,
            lease_until=None,
            updated_at=timezone.now(),
        )
    return [d for d in rows if d.pk not in refused]


def settled_fields(*, result: Result, status: str) -> dict:
    """What an erasure row's update adds: its outcome, and the lookup wiped once settled."""
    fields: dict = {}
    if status == Delivery.Status.DELIVERED:
        fields["outcome"] = result.erasure or Delivery.Outcome.NOTIFIED
    if status in {Delivery.Status.DELIVERED, Delivery.Status.FAILED}:
        fields["lookup"] = {}
    return fields


# --- Sending ---------------------------------------------------------------------------


def erasures_send(target: CrmTarget, rows: list[Delivery], options: SendOptions) -> list[Result]:
    """One Result per erasure row, in order, each delivered one with `erasure` set."""
    acting = [r for r in rows if r.erasure_mode != ErasureMode.NOTIFY and target.kind in ERASING]
    results: dict[int, Result] = {}
    if acting:
        requests = [_request(row) for row in acting]
        try:
            answers = eraser_for(target.kind).erase(target.config, requests, options)
        except ConfigurationError as exc:
            answers = [Result(r.delivery_id, "permanent", error=str(exc)) for r in requests]
        results.update({row.pk: answer for row, answer in zip(acting, answers, strict=True)})
    for row in rows:
        answer = results.get(row.pk)
        if answer is None:
            results[row.pk] = notify(target=target, row=row, reason="")
        elif answer.is_delivered and answer.erasure in NOTIFY_FALLBACK:
            notified = notify(target=target, row=row, reason=answer.erasure)
            outcome = NOTIFY_FALLBACK[answer.erasure] or Delivery.Outcome.NOTIFIED
            results[row.pk] = _with_erasure(notified, outcome)
    return [results[row.pk] for row in rows]


ERASING = {"https", "dynamics365", "marketo", "azure-table"}


def _request(row: Delivery) -> ErasureRequest:
    # Only the lookup: by the time this is sent, the lead row holds placeholders.
    return ErasureRequest(
        delivery_id=str(row.idempotency_key),
        lead_id=str(row.lookup.get("lead_id", "")),
        publisher_id=str(row.lookup.get("partition_key", "")),
        lookup=dict(row.lookup),
    )


def _with_erasure(result: Result, outcome: str) -> Result:
    return replace(result, erasure=outcome) if result.is_delivered else result


def record_reference(kind: str, lookup: dict) -> list[str]:
    """How a person finds the record in the CRM: one line per way."""
    lines = []
    if lookup.get("alternate_key"):
        lines.append(f"{lookup['alternate_key']} = '{lookup.get('key_value', '')}'")
    lines += [f"leadid {entity_id}" for entity_id in lookup.get("entity_ids", [])]
    if lookup.get("row_keys"):
        table = lookup.get("table") or "MarketplaceLeads"
        keys = ", ".join(lookup["row_keys"])
        lines.append(f"table {table}, PartitionKey '{lookup.get('partition_key')}', RowKey {keys}")
    if lookup.get("email"):
        lines.append(f"email {lookup['email']}")
    return lines or [f"LeadId {lookup.get('lead_id', '')}"]


def notify(*, target: CrmTarget, row: Delivery, reason: str) -> Result:
    """Email the erasure request to the target's contacts; retryable when SMTP fails."""
    delivery_id = str(row.idempotency_key)
    recipients = alerts.alert_recipients(target)
    if not recipients:
        error = "no one to notify: set the target's contact email or the publisher's lead contact"
        return Result(delivery_id, "permanent", error=error)
    context = {
        "target": target,
        "lead_id": row.lookup.get("lead_id", ""),
        "references": record_reference(target.kind, row.lookup),
        "reason": reason,
        "delivery_id": delivery_id,
    }
    subject = _("Erasure request for lead %(lead_id)s") % {"lead_id": context["lead_id"]}
    message = mail.EmailMessage(
        subject, render_to_string("emails/erasure_request.txt", context), None, recipients
    )
    connection = mail.mailers.default
    outcome, code, error = smtp_deliver(connection, message)
    connection.close()
    if outcome == SENT:
        sent_to = f"emailed to {', '.join(recipients)}"[:500]
        return Result(delivery_id, "delivered", code, response_excerpt=sent_to, erasure="notified")
    logger.warning(
        "crm.erasure.notify_failed",
        extra={"delivery_id": row.pk, "target_id": target.pk, "code": code},
    )
    outcome_kind = "permanent" if outcome == BOUNCED else "retryable"
    return Result(delivery_id, outcome_kind, code, error=f"the email was not sent: {error}"[:500])
