"""CRM targets and the Delivery outbox (DESIGN §3, §4)."""

import uuid
from dataclasses import dataclass

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.fields import EncryptedJSONField
from leads.lifecycle.models import lead_key
from leads.models import Listing
from portal.tenancy.model_fields import (
    TimestampedModel,
    choice_is_valid_constraint,
    publisher_key,
)


@dataclass(frozen=True)
class KindProfile:
    """What a CRM allows (reference/crm-contracts.md): the defaults for a new target."""

    rate_limit: int  # requests allowed …
    rate_period_seconds: int  # … per this many seconds
    batch_size: int  # leads per call, 1 where the CRM has no batch API
    secret_keys: tuple[str, ...]  # config keys that are never shown back
    required_keys: tuple[str, ...]


class ErasureMode(models.TextChoices):
    """How an erasure reaches a target (docs/delivery.md, Erasure). A target's owner
    chooses notify or delete; an HTTPS endpoint always gets the signed event."""

    NOTIFY = "notify", _("Notify: email the erasure request to the contact")
    DELETE = "delete", _("Delete the record in the CRM")
    EVENT = "event", _("Signed lead.erased event")


# The modes a target's owner may choose (the signed event is HTTPS's own).
TARGET_ERASURE_MODES = (ErasureMode.NOTIFY, ErasureMode.DELETE)


class CrmTargetKind(models.TextChoices):
    HTTPS = "https", _("HTTPS endpoint")
    SALESFORCE = "salesforce", _("Salesforce")
    DYNAMICS365 = "dynamics365", _("Dynamics 365")
    MARKETO = "marketo", _("Marketo")
    AZURE_TABLE = "azure-table", _("Azure Table")


class CrmTarget(TimestampedModel):
    """Where a publisher's qualified leads go. A target without a publisher is the global
    Microsoft field-seller CRM, set up once by staff."""

    Kind = CrmTargetKind

    class Scope(models.TextChoices):
        ALL_LISTINGS = "all", _("All listings")
        CHOSEN_LISTINGS = "chosen", _("Chosen listings")

    PROFILES: dict[str, KindProfile] = {
        Kind.HTTPS: KindProfile(600, 60, 1, ("signingSecret",), ("httpsEndpointUrl",)),
        # Web-to-Lead: 500 leads a day per org.
        Kind.SALESFORCE: KindProfile(500, 86_400, 1, (), ("objectIdentifier",)),
        # Dataverse: 6,000 requests per 5 minutes per user; $batch takes up to 1,000.
        Kind.DYNAMICS365: KindProfile(
            5_000,
            300,
            100,
            ("applicationKey",),
            ("instanceUrl", "directoryId", "applicationId", "applicationKey"),
        ),
        # Marketo: 100 calls per 20 s; 300 records per call. We keep a 10 % margin.
        Kind.MARKETO: KindProfile(
            90, 20, 300, ("clientSecret",), ("munchkinId", "clientId", "clientSecret")
        ),
        # Entity-group transactions take at most 100 operations.
        Kind.AZURE_TABLE: KindProfile(
            1_000, 1, 100, ("storageAccountConnectionString",), ("storageAccountConnectionString",)
        ),
    }

    publisher = publisher_key(
        related_name="crm_targets",
        null=True,
        blank=True,
        help_text=_("Empty for the global Microsoft field-seller CRM."),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    name = models.CharField(_("name"), max_length=200)
    config = EncryptedJSONField(_("configuration"), default=dict, blank=True)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope, default=Scope.ALL_LISTINGS)
    listings = models.ManyToManyField(
        Listing, blank=True, related_name="crm_targets", verbose_name=_("listings")
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("A paused target keeps its deliveries pending.")
    )
    verified_at = models.DateTimeField(
        _("verified"),
        null=True,
        blank=True,
        help_text=_("When a test lead last succeeded. Cleared when the configuration changes."),
    )
    rate_limit = models.PositiveIntegerField(_("rate limit (requests)"))
    rate_period_seconds = models.PositiveIntegerField(_("rate period (seconds)"))
    batch_size = models.PositiveSmallIntegerField(_("batch size"))
    extra_fields = models.JSONField(
        _("extra fields"),
        default=dict,
        blank=True,
        help_text=_("Constant fields added to every payload, such as a campaign id."),
    )
    paused_reason = models.CharField(_("why paused"), max_length=300, blank=True)
    erasure_mode = models.CharField(
        _("erasure mode"),
        max_length=10,
        choices=[(m.value, m.label) for m in TARGET_ERASURE_MODES],
        default=ErasureMode.NOTIFY,
        help_text=_(
            "When a person is erased: email the request to the contact (notify), or delete "
            "the record in the CRM (Dynamics 365, Marketo, Azure Table). Deleting a CRM "
            "record can destroy history that did not come from Lead Portal."
        ),
    )
    last_alert_sent_at = models.DateTimeField(
        _("last failure alert"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Failure alerts go out at most once a day per target."),
    )

    class Meta:
        ordering = ["publisher__name", "name"]
        verbose_name = _("CRM target")
        verbose_name_plural = _("CRM targets")
        constraints = [
            choice_is_valid_constraint(
                field="kind", choices=CrmTargetKind, name="crmtarget_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(publisher__isnull=False) | Q(scope="all"),
                name="crmtarget_field_seller_covers_all",
                violation_error_message=_("The field-seller target covers every listing."),
            ),
            models.CheckConstraint(
                condition=Q(erasure_mode__in=TARGET_ERASURE_MODES),
                name="crmtarget_erasure_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(batch_size__gte=1)
                & Q(rate_limit__gte=1)
                & Q(rate_period_seconds__gte=1),
                name="crmtarget_limits_positive",
            ),
        ]
        indexes = [models.Index(fields=["publisher", "is_active"], name="crmtarget_pub_active")]

    def __str__(self):
        return self.name

    @property
    def profile(self) -> KindProfile:
        return self.PROFILES[self.kind]

    @property
    def is_field_seller(self) -> bool:
        return self.publisher_id is None

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def apply_kind_defaults(self) -> None:
        """Fill the rate limit and batch size a new target leaves empty from its kind."""
        profile = self.profile
        if not self.rate_limit:
            self.rate_limit = profile.rate_limit
        if not self.rate_period_seconds:
            self.rate_period_seconds = profile.rate_period_seconds
        if not self.batch_size:
            self.batch_size = profile.batch_size

    def secrets_set(self) -> dict[str, bool]:
        """Which secret keys hold a value: all that a form or page may reveal of them."""
        return {key: bool(self.config.get(key)) for key in self.profile.secret_keys}

    @property
    def can_delete_on_erasure(self) -> bool:
        return self.kind in DELETING_KINDS

    @property
    def effective_erasure_mode(self) -> str:
        """What an erasure does at this target: HTTPS always sends the signed event,
        Salesforce Web-to-Lead (no delete API) always notifies."""
        if self.kind == self.Kind.HTTPS:
            return ErasureMode.EVENT
        if self.kind in DELETING_KINDS:
            return self.erasure_mode
        return ErasureMode.NOTIFY


# The kinds whose API can delete the record a delivery wrote.
DELETING_KINDS = frozenset(
    {CrmTargetKind.DYNAMICS365, CrmTargetKind.MARKETO, CrmTargetKind.AZURE_TABLE}
)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class Delivery(TimestampedModel):
    """One lead event owed to one target: the outbox row that workers drain."""

    class Event(models.TextChoices):
        QUALIFIED = "lead.qualified", _("Lead qualified")
        UPDATED = "lead.updated", _("Lead updated")
        TEST = "test", _("Test lead")
        ERASED = "lead.erased", _("Lead erased")

    class Outcome(models.TextChoices):
        """What an erasure delivery achieved (docs/delivery.md, Erasure)."""

        DELETED = "deleted", _("Deleted in the CRM")
        ABSENT = "absent", _("Not found in the CRM: nothing to delete")
        NOTIFIED = "notified", _("Erasure request emailed to the contact")
        CONVERTED = "converted", _("Converted, not deleted: the contact was notified")
        SIGNALLED = "signalled", _("Signed lead.erased event accepted")

    Status = DeliveryStatus

    # delivery_lead_created and delivery_target_created lead with these keys: no index of
    # their own (two fewer to write per outbox row).
    lead = lead_key(
        related_name="deliveries",
        null=True,
        blank=True,
        help_text=_("Empty for a synthetic test lead."),
        db_index=False,
    )
    target = models.ForeignKey(
        CrmTarget,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("target"),
        db_index=False,
    )
    event = models.CharField(_("event"), max_length=20, choices=Event)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last status code"), null=True, blank=True
    )
    response_excerpt = models.CharField(_("response excerpt"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    idempotency_key = models.UUIDField(
        _("delivery id"),
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text=_("Sent to the target on every attempt (webhook-id), so retries deduplicate."),
    )
    # Erasure deliveries only (event lead.erased).
    erasure_mode = models.CharField(
        _("erasure mode"), max_length=10, choices=ErasureMode, blank=True, default=""
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome, blank=True, default="")
    # What the target needs to find its record (an email, a key), encrypted, and set to
    # {} once the delivery settles: no copy of the address outlives the erasure. NULL on
    # every other delivery, so the outbox's reads decrypt nothing.
    lookup = EncryptedJSONField(
        _("erasure lookup"), null=True, blank=True, default=None, editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            # A lead is qualified once per target; the constraint is the idempotency arbiter.
            models.UniqueConstraint(
                fields=["lead", "target"],
                condition=Q(event="lead.qualified"),
                name="delivery_qualified_once_per_target",
            ),
            models.UniqueConstraint(
                fields=["lead", "target"],
                condition=Q(event="lead.erased"),
                name="delivery_erased_once_per_target",
            ),
            choice_is_valid_constraint(
                field="status", choices=DeliveryStatus, name="delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.DELIVERED) | Q(delivered_at__isnull=False),
                name="delivery_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(lead__isnull=False) | Q(event="test"),
                name="delivery_only_test_without_lead",
            ),
        ]
        indexes = [
            # The sweep: due or stuck rows, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                name="delivery_due",
            ),
            # The deliveries list walks each target's rows, newest first (crm.selectors).
            models.Index(fields=["target", "-created_at", "-id"], name="delivery_target_created"),
            # … and, filtered by an event (test leads and erasures are rare), that event's.
            models.Index(
                fields=["target", "event", "-created_at", "-id"],
                name="delivery_target_event_created",
            ),
            models.Index(fields=["status", "-created_at", "-id"], name="delivery_status_created"),
            models.Index(fields=["lead", "-created_at"], name="delivery_lead_created"),
        ]

    def __str__(self):
        return f"{self.get_event_display()} → {self.target_id} ({self.get_status_display()})"


class ReferralConnection(TimestampedModel):
    """A publisher's connection to Partner Center's Referrals API (App+User credentials,
    reference/partner-center-inbound.md §1.1) and the state of its incremental sync."""

    publisher = models.OneToOneField(
        "portal.Publisher",
        on_delete=models.CASCADE,
        related_name="referral_connection",
        verbose_name=_("publisher"),
    )
    listing = models.ForeignKey(
        Listing,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("listing"),
        help_text=_("The listing that the referrals' leads are filed under."),
    )
    tenant_id = models.CharField(
        _("directory (tenant) id"),
        max_length=100,
        help_text=_("The Microsoft Entra tenant of the app registration: a GUID or a domain."),
    )
    client_id = models.CharField(_("application (client) id"), max_length=100)
    username = models.CharField(
        _("user name"),
        max_length=254,
        help_text=_("A Partner Center user with the Referrals Admin role."),
    )
    # client_secret and password; never shown back.
    secrets = EncryptedJSONField(_("secrets"), default=dict, blank=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("A paused connection is not synced.")
    )
    last_synced_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    watermark = models.DateTimeField(
        _("watermark"),
        null=True,
        blank=True,
        help_text=_("The newest updatedDateTime read; the next sync reads from a little before."),
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_counts = models.JSONField(_("last sync's counts"), default=dict, blank=True)
    sync_lease_until = models.DateTimeField(_("sync leased until"), null=True, blank=True)
    next_sync_at = models.DateTimeField(
        _("next sync not before"),
        null=True,
        blank=True,
        help_text=_("Set when Partner Center asked us to wait (429 Retry-After)."),
    )

    SECRET_KEYS = ("client_secret", "password")

    class Meta:
        ordering = ["publisher__name"]
        verbose_name = _("Partner Center referrals connection")
        verbose_name_plural = _("Partner Center referrals connections")

    def __str__(self):
        return f"{self.publisher} – Partner Center"

    def secrets_set(self) -> dict[str, bool]:
        return {key: bool(self.secrets.get(key)) for key in self.SECRET_KEYS}
