"""Writes for CRM targets. Delivery services join this module with the delivery issue."""

import logging
import threading
import time
from dataclasses import dataclass, replace

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from crm.fields import field_fernet
from crm.models import CrmTarget, Delivery

logger = logging.getLogger(__name__)


@transaction.atomic
def crm_configs_rotate_keys() -> int:
    """Re-encrypt every target's config under the first FIELD_ENCRYPTION_KEYS key.

    All rows or none: an undecryptable row raises and rolls the whole rotation back.
    """
    fernet = field_fernet()
    # Cast to text so the raw token comes back, not the decrypted dict.
    rows = (
        CrmTarget.objects.select_for_update()
        .annotate(token=Cast("config", output_field=TextField()))
        .order_by("pk")
        .values_list("pk", "token")
    )
    rotated = 0
    for pk, token in rows:
        try:
            new_token = fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"CRM target {pk}: its config cannot be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS. Nothing was rotated."
            ) from exc
        # A plain-text Value writes the new token as is; the field would encrypt it again.
        CrmTarget.objects.filter(pk=pk).update(config=Value(new_token, output_field=TextField()))
        rotated += 1
    return rotated


# --- The outbox ---------------------------------------------------------------------------

EVENTS = {"qualified": Delivery.Event.QUALIFIED, "updated": Delivery.Event.UPDATED}


@dataclass(frozen=True)
class Coverage:
    """What deciding coverage needs of a target, read in one query."""

    target_id: int
    publisher_id: int | None
    scope: str
    listing_ids: frozenset[int]

    def covers(self, *, publisher_id: int, listing_id: int | None, field_seller: bool) -> bool:
        if self.publisher_id is None:
            return field_seller
        if self.publisher_id != publisher_id:
            return False
        return self.scope == CrmTarget.Scope.ALL_LISTINGS or listing_id in self.listing_ids


def targets_covering(*, publisher_ids: set[int]) -> list[Coverage]:
    """The publishers' targets and the global field-seller targets, with their chosen
    listings, in one query. Paused targets are included: their deliveries wait, pending,
    until the target resumes."""
    rows = CrmTarget.objects.filter(
        Q(publisher_id__in=publisher_ids) | Q(publisher__isnull=True)
    ).values_list("pk", "publisher_id", "scope", "listings")
    found: dict[int, tuple] = {}
    chosen: dict[int, set[int]] = {}
    for target_id, publisher_id, scope, listing_id in rows:
        found[target_id] = (publisher_id, scope)
        chosen.setdefault(target_id, set())
        if listing_id is not None:
            chosen[target_id].add(listing_id)
    return [
        Coverage(target_id, publisher_id, scope, frozenset(chosen[target_id]))
        for target_id, (publisher_id, scope) in found.items()
    ]


def deliveries_create(*, events: list[tuple], field_seller: bool = True) -> list[Delivery]:
    """Write the outbox rows for (lead, "qualified" | "updated", listing id) events: one per
    target that covers the listing, the field-seller targets included. Call it inside the
    transaction that changed the lead; workers are woken after commit. Co-Sell referrals
    pass field_seller=False: they came from the field-seller CRM."""
    if not events:
        return []
    now = timezone.now()
    targets = targets_covering(publisher_ids={lead.publisher_id for lead, _, _ in events})
    rows = [
        Delivery(lead=lead, target_id=target.target_id, event=EVENTS[event], next_attempt_at=now)
        for lead, event, listing_id in events
        for target in targets
        if target.covers(
            publisher_id=lead.publisher_id, listing_id=listing_id, field_seller=field_seller
        )
    ]
    if not rows:
        return []
    # A lead is qualified once per target: a repeated qualification is absorbed by the
    # partial unique index instead of failing the whole intake.
    created = Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    target_ids = {row.target_id for row in rows}
    transaction.on_commit(lambda: deliveries_wake(target_ids=target_ids), robust=True)
    return created


_wake = threading.local()


def deliveries_wake(*, target_ids: set[int], copies: int = 1) -> int:
    """Tell the workers that these targets have due deliveries; returns how many
    wake-ups were queued. Best effort: when the broker is down, the beat sweep finds the
    rows anyway (DESIGN §4), so the publish makes one attempt and never retries in the
    request. Each thread keeps one broker connection for this, instead of opening one
    per commit.

    At most one wake-up per (target, slot) is queued at a time: a mark in the shared cache
    is added with the message and cleared when its task starts (`wake_taken`). A target
    with a wake-up already queued is skipped, so a sweep every few seconds cannot pile
    up messages for failing targets ahead of everything else. The mark's lifetime
    (CRM_WAKE_TTL_SECONDS) bounds how long a lost message holds a target back."""
    from portal.celery import app

    queued, mark = 0, None
    try:
        if getattr(_wake, "connection", None) is None:
            _wake.connection = app.connection_for_write(transport_options={"max_retries": 0})
        for target_id in sorted(target_ids):
            for slot in range(copies):
                mark = _wake_mark(target_id, slot)
                if not _wake_mark_add(mark):
                    continue  # one is queued already
                app.send_task(
                    "crm.deliver_target",
                    args=[target_id],
                    kwargs={"wake_slot": slot},
                    connection=_wake.connection,
                    retry=False,
                )
                queued, mark = queued + 1, None
    except Exception as exc:  # the broker is down: the outbox row is the truth
        if mark is not None:
            _wake_marks_clear([mark])  # not queued: let the next sweep try again
        connection, _wake.connection = getattr(_wake, "connection", None), None
        if connection is not None:
            connection.release()
        logger.warning(
            "crm.wake.failed", extra={"targets": len(target_ids), "error": type(exc).__name__}
        )
    return queued


def wake_taken(*, target_id: int, slot: int) -> None:
    """A wake-up's task has started: the next one may be queued."""
    _wake_marks_clear([_wake_mark(target_id, slot)])


def _wake_mark(target_id: int, slot: int) -> str:
    return f"leadportal:crm:wake:{target_id}:{slot}"


def _marks_are_shared() -> bool:
    # The first run's local-memory cache is one per process: marks there would never be
    # cleared by the worker, so without a shared cache every wake-up is queued.
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def _wake_mark_add(mark: str) -> bool:
    if not _marks_are_shared():
        return True
    try:
        return cache.add(mark, 1, timeout=settings.CRM_WAKE_TTL_SECONDS)
    except Exception:  # the cache is down: waking twice beats not waking
        return True


def _wake_marks_clear(marks: list[str]) -> None:
    if not _marks_are_shared():
        return
    try:
        cache.delete_many(marks)
    except Exception:  # the mark lapses on its own
        logger.warning("crm.wake.mark_not_cleared", extra={"marks": len(marks)})


# --- Targets ------------------------------------------------------------------------------

TEST_TIMEOUT = 10.0
# A test lead still pending or sending after this long was lost (no worker took it, or
# its worker died): the page stops waiting and says so.
TEST_STALE_SECONDS = 120


@dataclass(frozen=True)
class TestLeadResult:
    ok: bool
    status_code: int | None
    seconds: float
    error: str
    response_excerpt: str


@transaction.atomic
def target_test_start(*, target: CrmTarget) -> Delivery:
    """Record a test lead as a pending `test` delivery and, after commit, queue its
    sending on a worker (`crm.send_test_lead`). The sweep never takes it (it has no
    next attempt): a test lead gets one attempt, its result shown on the target's page."""
    record = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, status=Delivery.Status.PENDING
    )
    transaction.on_commit(lambda: _test_enqueue(record.pk), robust=True)
    return record


def _test_enqueue(delivery_id: int) -> None:
    from portal.celery import app

    try:
        # One attempt, as deliveries_wake: an owner waits on this request.
        with app.connection_for_write(transport_options={"max_retries": 0}) as connection:
            app.send_task(
                "crm.send_test_lead", args=[delivery_id], connection=connection, retry=False
            )
    except Exception as exc:  # the broker is down: say so now rather than wait in vain
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING).update(
            status=Delivery.Status.FAILED,
            last_error="The task queue is unavailable. Try again in a moment.",
        )
        logger.warning(
            "crm.test_lead.not_queued",
            extra={"delivery_id": delivery_id, "error": type(exc).__name__},
        )


def target_test_run(*, delivery_id: int) -> TestLeadResult | None:
    """The worker's half: send a pending test lead once; None when it is gone or was
    already taken (a redelivered message)."""
    taken = Delivery.objects.filter(
        pk=delivery_id, event=Delivery.Event.TEST, status=Delivery.Status.PENDING
    ).update(status=Delivery.Status.SENDING, attempts=1, updated_at=timezone.now())
    if not taken:
        return None
    record = Delivery.objects.select_related("target__publisher").get(pk=delivery_id)
    return _test_send(record)


def target_send_test(*, target: CrmTarget) -> TestLeadResult:
    """Send one synthetic MSFT_TEST_ lead now, with a short timeout, and record it as a
    `test` delivery (staff's admin action; the portal queues it: target_test_start)."""
    record = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, status=Delivery.Status.SENDING, attempts=1
    )
    return _test_send(record)


def _test_send(record: Delivery) -> TestLeadResult:
    """Send the test lead of a `sending` record and write its result. Success verifies
    the target (the AppSource publish gate needs it)."""
    from crm import delivery, payloads
    from crm.connectors import ConfigurationError, Result, connector_for

    target = record.target
    payload = payloads.test_payload(target, str(record.idempotency_key))
    options = replace(delivery.send_options(), connect_timeout=5.0, total_timeout=TEST_TIMEOUT)
    started = time.monotonic()
    try:
        (result,) = connector_for(target.kind).send(target.config, [payload], options)
    except ConfigurationError as exc:
        result = Result(payload.delivery_id, "permanent", error=str(exc))
    seconds = round(time.monotonic() - started, 3)
    now = timezone.now()
    Delivery.objects.filter(pk=record.pk).update(
        status="delivered" if result.is_delivered else "failed",
        delivered_at=now if result.is_delivered else None,
        last_status_code=result.status_code,
        last_error=result.error[:2000],
        response_excerpt=result.response_excerpt[:500],
        updated_at=now,
    )
    if result.is_delivered:
        CrmTarget.objects.filter(pk=target.pk).update(verified_at=now)
    logger.info(
        "crm.test_lead.sent",
        extra={"target_id": target.pk, "delivered": result.is_delivered, "seconds": seconds},
    )
    return TestLeadResult(
        result.is_delivered, result.status_code, seconds, result.error, result.response_excerpt
    )


def targets_pause(*, targets) -> int:
    """Pause targets: their deliveries stay pending until the target resumes."""
    return targets.filter(is_active=True).update(is_active=False, updated_at=timezone.now())


def targets_resume(*, targets) -> int:
    """Resume paused targets and wake their workers for what they kept pending."""
    ids = set(targets.filter(is_active=False).values_list("pk", flat=True))
    count = CrmTarget.objects.filter(pk__in=ids).update(
        is_active=True, paused_reason="", updated_at=timezone.now()
    )
    transaction.on_commit(lambda: deliveries_wake(target_ids=ids), robust=True)
    return count


# --- Portal writes: targets ---------------------------------------------------------------


def _signing_secret_new() -> str:
    from crm.connectors import signing

    return signing.secret_generate()


@transaction.atomic
def target_create(
    *,
    publisher,
    kind: str,
    name: str,
    config: dict,
    scope: str = CrmTarget.Scope.ALL_LISTINGS,
    listings=(),
    extra_fields: dict | None = None,
) -> tuple[CrmTarget, str]:
    """Create a publisher's target; an HTTPS target gets a generated signing secret,
    returned once as the second value ("" for other kinds)."""
    config = dict(config)
    secret = ""
    if kind == CrmTarget.Kind.HTTPS:
        secret = _signing_secret_new()
        config["signingSecret"] = secret
    target = CrmTarget(
        publisher=publisher,
        kind=kind,
        name=name,
        config=config,
        scope=scope,
        extra_fields=extra_fields or {},
    )
    target.apply_kind_defaults()
    target.full_clean(exclude=["config"])
    target.save()
    target.listings.set(listings if scope == CrmTarget.Scope.CHOSEN_LISTINGS else ())
    return target, secret


@transaction.atomic
def target_update(
    *,
    target: CrmTarget,
    name: str,
    config: dict,
    scope: str,
    listings=(),
    extra_fields: dict | None = None,
) -> CrmTarget:
    """Edit a target. A change of config or extra fields clears `verified_at`: the new
    settings are unproven until a test lead succeeds again."""
    target = CrmTarget.objects.select_for_update().get(pk=target.pk)
    extra_fields = extra_fields or {}
    if config != target.config or extra_fields != target.extra_fields:
        target.verified_at = None
    target.name, target.config, target.scope = name, dict(config), scope
    target.extra_fields = extra_fields
    target.full_clean(exclude=["config"])
    target.save()
    target.listings.set(listings if scope == CrmTarget.Scope.CHOSEN_LISTINGS else ())
    return target


@transaction.atomic
def target_signing_secret_rotate(*, target: CrmTarget) -> str:
    """Start a rotation: a new secret signs beside the old one (config [new, old]);
    the receiver switches at its own pace. Returns the new secret, to show once."""
    target = CrmTarget.objects.select_for_update().get(pk=target.pk)
    if target.kind != CrmTarget.Kind.HTTPS:
        raise ValueError("only HTTPS targets have a signing secret")
    current = target.config.get("signingSecret")
    current = current[0] if isinstance(current, list) else current
    secret = _signing_secret_new()
    target.config = {**target.config, "signingSecret": [secret, current] if current else secret}
    target.save(update_fields=["config", "updated_at"])
    return secret


@transaction.atomic
def target_signing_secret_finish_rotation(*, target: CrmTarget) -> CrmTarget:
    """Finish a rotation: only the new secret signs. The target is unverified until a
    test lead proves that the receiver checks the new secret."""
    target = CrmTarget.objects.select_for_update().get(pk=target.pk)
    current = target.config.get("signingSecret")
    if isinstance(current, list) and current:
        target.config = {**target.config, "signingSecret": current[0]}
        target.verified_at = None
        target.save(update_fields=["config", "verified_at", "updated_at"])
    return target
