"""Writes of referrals: what Partner Center says, and the publisher's accept, decline,
won and lost.

A change the publisher makes is checked against the §1.7 table here, applied to the row
at once (`sync_state` pending, the JSON Patch operations kept in `pending_change`), and
handed to whoever registered a push waker (crm, which owns the Partner Center
connection: `crm.referrals`), after the commit. The lead follows the referral's status
when Partner Center has it: accepted, won, lost, or disqualified for a decline.
"""

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from leads.lifecycle import services as lifecycle_services
from leads.models import Lead
from leads.referrals import transitions
from leads.referrals.models import Referral
from portal.models import Publisher

# The columns Partner Center's copy sets (a sync, or the answer to a write).
REMOTE_FIELDS = (
    "engagement_id",
    "name",
    "customer_name",
    "customer_need",
    "deal_value",
    "currency",
    "close_date",
    "seller_name",
    "seller_email",
    "seller_phone",
    "status",
    "substatus",
    "status_reason",
    "referral_type",
    "qualification",
    "direction",
    "pc_created_at",
    "pc_updated_at",
    "expires_at",
    "accepted_at",
    "raw",
)
STATUS_FIELDS = ("status", "substatus", "status_reason", "accepted_at")
# Where a lead goes when its referral reaches a substatus (a decline disqualifies it).
LEAD_STATUS_FOR = {
    "Accepted": Lead.Status.ACCEPTED,
    "Won": Lead.Status.WON,
    "Lost": Lead.Status.LOST,
    "Declined": Lead.Status.DISQUALIFIED,
}

_push_wakers: list[Callable[[int], None]] = []


def referral_push_waker_register(waker: Callable[[int], None]) -> None:
    """crm registers the task that sends a pending change (crm/apps.py)."""
    if waker not in _push_wakers:
        _push_wakers.append(waker)


def referral_store(
    *,
    publisher: Publisher,
    lead: Lead | None,
    partner_center_id: str,
    values: dict,
    sync_state: str,
) -> Referral:
    """Create or refresh the referral row of a new referral (inside intake's transaction)."""
    referral, _created = Referral.objects.update_or_create(
        publisher=publisher,
        partner_center_id=partner_center_id,
        defaults={**values, "lead": lead, "sync_state": sync_state},
    )
    return referral


def _remote_changes(referral: Referral, values: dict) -> list[str]:
    """The columns Partner Center's copy changes (status kept while ours is pending)."""
    kept = STATUS_FIELDS if referral.sync_state == Referral.SyncState.PENDING else ()
    changed = [
        name
        for name in REMOTE_FIELDS
        if name not in kept and getattr(referral, name) != values.get(name)
    ]
    if referral.sync_state == Referral.SyncState.LOCAL:
        changed.append("sync_state")
    return changed


def referral_update_from_remote(*, referral: Referral, values: dict, now: datetime) -> bool:
    """Take Partner Center's copy (a sync); False when nothing changed (and no query). A
    change of ours still on its way keeps its status until Partner Center answers it."""
    if not _remote_changes(referral, values):
        return False
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        changed = _remote_changes(referral, values)
        if not changed:
            return False
        was = referral.substatus
        for name in changed:
            if name == "sync_state":
                referral.sync_state = Referral.SyncState.SYNCED
            else:
                setattr(referral, name, values.get(name))
        referral.save(update_fields=[*changed, "updated_at"])
        if referral.substatus != was:
            _lead_follow(referral, by=None, now=now)
    return True


def _check_action(referral: Referral, action: transitions.Action, fields: dict) -> dict:
    """The refusal of the move, field by field ({} when allowed)."""
    if referral.sync_state == Referral.SyncState.PENDING:
        return {
            NON_FIELD_ERRORS: _("A change of this referral is still on its way to Partner Center.")
        }
    if referral.is_terminal or referral.status == Referral.Status.CLOSED:
        return {
            NON_FIELD_ERRORS: _("This referral is closed: Partner Center allows no further change.")
        }
    refusal = transitions.transition_refusal(
        status=referral.status,
        substatus=referral.substatus,
        to_status=action.status,
        to_substatus=action.substatus,
    )
    if refusal or referral.status not in action.from_statuses:
        return {
            NON_FIELD_ERRORS: _("A %(status)s referral cannot be marked %(substatus)s.")
            % {
                "status": Referral.Status(referral.status).label.lower(),
                "substatus": Referral.Substatus(action.substatus).label.lower(),
            }
        }
    errors = {}
    if action.name == "accept":
        if fields.get("deal_value") is None:
            errors["deal_value"] = _("Partner Center needs the deal value to accept a referral.")
        if not fields.get("close_date"):
            errors["close_date"] = _("Partner Center needs the close date to accept a referral.")
        if not fields.get("currency"):
            errors["currency"] = _("Give the currency of the deal value.")
    if action.name == "decline" and not fields.get("reason"):
        errors["reason"] = _("Choose why you decline the referral.")
    return errors


def _patch_operations(action: transitions.Action, fields: dict) -> list[dict]:
    """The JSON Patch of the move (only `replace`, as the API allows)."""
    ops = [
        {"op": "replace", "path": "/status", "value": action.status},
        {"op": "replace", "path": "/substatus", "value": action.substatus},
    ]
    if fields.get("status_reason"):
        ops.append({"op": "replace", "path": "/statusReason", "value": fields["status_reason"]})
    if action.name == "accept":
        closing = datetime.combine(fields["close_date"], datetime.min.time())
        ops += [
            {"op": "replace", "path": "/details/dealValue", "value": float(fields["deal_value"])},
            {"op": "replace", "path": "/details/currency", "value": fields["currency"]},
            {
                "op": "replace",
                "path": "/details/closingDateTime",
                "value": closing.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        ]
    return ops


def status_reason_for(*, reason: str, note: str) -> str:
    """The statusReason text: the reason's Partner Center label, then the publisher's note."""
    label = dict(transitions.DECLINE_REASONS).get(reason, "")
    return ": ".join(part for part in (label, note.strip()) if part)[:500]


def referral_act(
    *,
    referral: Referral,
    action: str,
    by,
    deal_value: Decimal | None = None,
    currency: str = "",
    close_date: date | None = None,
    reason: str = "",
    note: str = "",
) -> Referral:
    """Accept, decline, win or lose a referral: checked, applied, and queued for Partner
    Center (raises ValidationError with the fields at fault)."""
    move = transitions.ACTIONS[action]
    fields = {
        "deal_value": deal_value,
        "currency": currency.strip().upper(),
        "close_date": close_date,
        "reason": reason,
        "status_reason": status_reason_for(reason=reason, note=note),
    }
    with transaction.atomic():
        referral = Referral.objects.select_for_update().get(pk=referral.pk)
        errors = _check_action(referral, move, fields)
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        referral.status, referral.substatus = move.status, move.substatus
        referral.status_reason = fields["status_reason"] or referral.status_reason
        if move.name == "accept":
            referral.deal_value, referral.currency = deal_value, fields["currency"]
            referral.close_date, referral.accepted_at = close_date, now
        referral.changed_by, referral.push_error = by, ""
        if referral.sync_state == Referral.SyncState.LOCAL:
            referral.save()
            _lead_follow(referral, by=by, now=now)
            return referral
        referral.sync_state = Referral.SyncState.PENDING
        referral.pending_change = {
            "ops": _patch_operations(move, fields),
            "status": move.status,
            "substatus": move.substatus,
        }
        referral.push_attempts, referral.next_push_at = 0, now
        referral.save()
        pk = referral.pk
        transaction.on_commit(lambda: [wake(pk) for wake in _push_wakers])
    return referral


def referral_push_succeeded(*, referral_id: int, values: dict, now: datetime) -> None:
    """Partner Center took the change: keep its answer, and let the lead follow."""
    with transaction.atomic():
        referral = Referral.objects.select_for_update().filter(pk=referral_id).first()
        if referral is None:
            return
        for name in REMOTE_FIELDS:
            setattr(referral, name, values.get(name))
        referral.sync_state, referral.pending_change = Referral.SyncState.SYNCED, {}
        referral.push_error, referral.next_push_at = "", None
        referral.save()
        _lead_follow(referral, by=referral.changed_by, now=now)


def referral_push_failed(
    *, referral_id: int, error: str, retry_at: datetime | None, values: dict | None = None
) -> None:
    """A change did not reach Partner Center: try again at `retry_at`, or give up (None)
    and show Partner Center's own copy again, when there is one."""
    with transaction.atomic():
        referral = Referral.objects.select_for_update().filter(pk=referral_id).first()
        if referral is None or referral.sync_state != Referral.SyncState.PENDING:
            return
        referral.push_attempts += 1
        referral.push_error = error[:500]
        if retry_at is not None:
            referral.next_push_at = retry_at
        else:
            referral.sync_state, referral.next_push_at = Referral.SyncState.FAILED, None
            for name in REMOTE_FIELDS if values else ():
                setattr(referral, name, values.get(name))
        referral.save()


@transaction.atomic
def referrals_push_retry(*, referral_ids: list[int]) -> int:
    """Send failed answers again (staff): pending, due now, attempts counted afresh."""
    now = timezone.now()
    ids = list(
        Referral.objects.filter(pk__in=referral_ids, sync_state=Referral.SyncState.FAILED)
        .exclude(pending_change={})
        .values_list("pk", flat=True)
    )
    Referral.objects.filter(pk__in=ids).update(
        sync_state=Referral.SyncState.PENDING, next_push_at=now, push_attempts=0, updated_at=now
    )
    for pk in ids:
        transaction.on_commit(lambda pk=pk: [wake(pk) for wake in _push_wakers])
    return len(ids)


def referral_push_claim(*, referral_id: int, now: datetime, lease_seconds: int) -> dict | None:
    """Take a due pending change for one attempt (its lease pushes the next attempt on);
    None when it is not due, or another worker has it."""
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update(skip_locked=True)
            .filter(
                pk=referral_id,
                sync_state=Referral.SyncState.PENDING,
                next_push_at__lte=now,
            )
            .first()
        )
        if referral is None:
            return None
        referral.next_push_at = now + timedelta(seconds=lease_seconds)
        referral.save(update_fields=["next_push_at", "updated_at"])
        return {
            "publisher_id": referral.publisher_id,
            "partner_center_id": referral.partner_center_id,
            "attempts": referral.push_attempts,
            **referral.pending_change,
        }


def _lead_follow(referral: Referral, *, by, now: datetime) -> None:
    """Move the referral's lead where its substatus leads, when its lifecycle allows."""
    lead, wanted = referral.lead, LEAD_STATUS_FOR.get(referral.substatus)
    if lead is None or wanted is None:
        return
    lead = Lead.objects.get(pk=lead.pk)
    reason = _("Partner Center: the referral is %(substatus)s.") % {
        "substatus": Referral.Substatus(referral.substatus).label.lower()
    }
    path = [wanted]
    if wanted in (Lead.Status.WON, Lead.Status.LOST) and lead.status == Lead.Status.QUALIFIED:
        path = [Lead.Status.ACCEPTED, wanted]
    for status in path:
        if not lead.can_move_to(status):
            return
        lead = lifecycle_services.lead_transition(lead=lead, to_status=status, by=by, reason=reason)
