"""Writes for CRM targets: create, edit, pause and resume, signing secrets, key rotation.

The outbox (every Delivery write and the wake-up) is crm.services."""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from crm import services
from crm.connectors import signing
from crm.fields import EncryptedJSONField, field_fernet
from crm.models import CrmTarget, ErasureMode


@transaction.atomic
def crm_configs_rotate_keys() -> int:
    """Re-encrypt every target's config under the first FIELD_ENCRYPTION_KEYS key.

    All rows or none: an undecryptable row raises and rolls the whole rotation back.
    """
    return encrypted_rows_rotate(model=CrmTarget, field="config", label="CRM target")


def encrypted_rows_rotate(*, model, field: str, label: str) -> int:
    """Re-encrypt one encrypted column of every row under the first key (in the caller's
    transaction); raises ImproperlyConfigured naming the row no key decrypts."""
    fernet = field_fernet()
    # Cast to text so the raw token comes back, not the decrypted dict.
    rows = (
        model.objects.select_for_update()
        .exclude(**{f"{field}__isnull": True})
        .annotate(token=Cast(field, output_field=TextField()))
        .order_by("pk")
        .values_list("pk", "token")
    )
    rotated = 0
    for pk, token in rows:
        try:
            new_token = fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"{label} {pk}: its {field} cannot be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS. Nothing was rotated."
            ) from exc
        # A plain-text Value writes the new token as is; the field would encrypt it again.
        model.objects.filter(pk=pk).update(**{field: Value(new_token, output_field=TextField())})
        rotated += 1
    return rotated


def encrypted_fields_above_crm() -> list[tuple[type, str]]:
    """(model, field name) of every EncryptedJSONField of an app above crm (an inbound
    Azure Table source's connection string), found in the app registry: crm imports no
    app above it, yet the key rotation must reach their rows too."""
    return [
        (model, field.name)
        for model in apps.get_models()
        if model._meta.app_label != CrmTarget._meta.app_label
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedJSONField)
    ]


def targets_pause(*, targets) -> int:
    """Pause targets: their deliveries stay pending until the target resumes."""
    return targets.filter(is_active=True).update(is_active=False, updated_at=timezone.now())


def targets_resume(*, targets) -> int:
    """Resume paused targets and wake their workers for what they kept pending."""
    ids = set(targets.filter(is_active=False).values_list("pk", flat=True))
    count = CrmTarget.objects.filter(pk__in=ids).update(
        is_active=True, paused_reason="", updated_at=timezone.now()
    )
    transaction.on_commit(lambda: services.deliveries_wake(target_ids=ids), robust=True)
    return count


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
    erasure_mode: str | None = None,
) -> tuple[CrmTarget, str]:
    """Create a publisher's target; an HTTPS target gets a generated signing secret,
    returned once as the second value ("" for other kinds)."""
    config = dict(config)
    secret = ""
    if kind == CrmTarget.Kind.HTTPS:
        secret = signing.secret_generate()
        config["signingSecret"] = secret
    target = CrmTarget(
        publisher=publisher,
        kind=kind,
        name=name,
        config=config,
        scope=scope,
        extra_fields=extra_fields or {},
        erasure_mode=erasure_mode or ErasureMode.NOTIFY,
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
    erasure_mode: str | None = None,
) -> CrmTarget:
    """Edit a target. A change of config or extra fields clears `verified_at`: the new
    settings are unproven until a test lead succeeds again."""
    target = CrmTarget.objects.select_for_update().get(pk=target.pk)
    extra_fields = extra_fields or {}
    if config != target.config or extra_fields != target.extra_fields:
        target.verified_at = None
    target.name, target.config, target.scope = name, dict(config), scope
    target.extra_fields = extra_fields
    target.erasure_mode = erasure_mode or target.erasure_mode
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
    secret = signing.secret_generate()
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
