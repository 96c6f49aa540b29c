"""Inbound sources: where Partner Center hands leads over, and every item it handed over.

Store first, then process (docs/partner-center.md): an inbound item is written with its raw
body before anything else is looked at, so a lead that cannot be processed yet (a draft
listing, an unknown offer, a worker outage) waits or becomes a reject that can be retried,
and is never lost.

- A **webhook** source belongs to one listing: Partner Center's "HTTPS endpoint" lead
  destination POSTs to /api/v1/inbound/partner-center/<token>/. Only a keyed hash of the
  token is stored; a rotated token keeps working until `previous_valid_until`.
- An **Azure Table** source belongs to a publisher: the worker reads the entities Partner
  Center writes to the `MarketplaceLeads` table of the publisher's storage account.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.fields import EncryptedJSONField
from leads.catalog.models import listing_key
from portal.tenancy.model_fields import (
    TimestampedModel,
    choice_is_valid_constraint,
    optional_key,
    publisher_key,
)

DEFAULT_TABLE_NAME = "MarketplaceLeads"


class InboundKind(models.TextChoices):
    WEBHOOK = "pc-webhook", _("Partner Center HTTPS endpoint")
    AZURE_TABLE = "pc-table", _("Partner Center Azure Table")


class InboundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    WAITING = "waiting", _("Waiting for the listing")
    PROCESSED = "processed", _("Processed")
    REJECTED = "rejected", _("Rejected")


class InboundSource(TimestampedModel):
    """One way Partner Center hands a publisher's leads to Lead Portal."""

    Kind = InboundKind

    publisher = publisher_key(related_name="inbound_sources")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    # Webhook: the listing whose leads arrive at this URL (the URL names no offer).
    listing = listing_key(related_name="inbound_sources", null=True, blank=True)
    # Keyed hashes of the URL token and of the one it replaced (empty: none).
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    previous_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    previous_valid_until = models.DateTimeField(
        _("previous URL valid until"), null=True, blank=True, editable=False
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    connected_at = models.DateTimeField(
        _("connected"),
        null=True,
        blank=True,
        help_text=_("When Partner Center's test lead (MSFT_TEST_…) last arrived."),
    )
    last_received_at = models.DateTimeField(_("last lead received"), null=True, blank=True)
    # Azure Table: the storage account (encrypted) and the table Partner Center writes to.
    config = EncryptedJSONField(_("configuration"), default=dict, blank=True)
    table_name = models.CharField(_("table name"), max_length=63, default=DEFAULT_TABLE_NAME)
    read_from = models.DateTimeField(
        _("read from"),
        null=True,
        blank=True,
        help_text=_("The first read starts here, to import history; empty: from now."),
    )
    watermark = models.DateTimeField(_("read up to"), null=True, blank=True, editable=False)
    last_read_at = models.DateTimeField(_("last read"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)
    paused = models.BooleanField(_("paused"), default=False)
    # Azure Table: one worker reads a source at a time (the lease), and a read cut short
    # resumes where its last committed page left off (inbound.table).
    read_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    read_cursor = models.JSONField(default=dict, blank=True, editable=False)
    # A leaked URL must not become a way to flood the publisher (docs/partner-center.md).
    hourly_limit = models.PositiveIntegerField(
        _("new leads per hour"),
        default=200,
        help_text=_("Items beyond this are held as rejects, and the owner is alerted."),
    )
    limit_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["publisher", "kind", "id"]
        verbose_name = _("inbound source")
        verbose_name_plural = _("inbound sources")
        constraints = [
            choice_is_valid_constraint(
                field="kind", choices=InboundKind, name="inbound_source_kind"
            ),
            models.UniqueConstraint(
                fields=["token_hash"], condition=~Q(token_hash=""), name="inbound_token_unique"
            ),
            models.UniqueConstraint(
                fields=["previous_token_hash"],
                condition=~Q(previous_token_hash=""),
                name="inbound_previous_token_unique",
            ),
            models.UniqueConstraint(
                fields=["listing"],
                condition=Q(kind="pc-webhook"),
                name="inbound_one_webhook_per_listing",
            ),
            models.CheckConstraint(
                condition=Q(kind="pc-table", listing__isnull=True)
                | Q(kind="pc-webhook", listing__isnull=False),
                name="inbound_webhook_has_listing",
                violation_error_message=_(
                    "A webhook source belongs to a listing; a table source does not."
                ),
            ),
        ]

    def __str__(self):
        if self.kind == self.Kind.WEBHOOK and self.listing_id:
            return f"{self.get_kind_display()}: {self.listing}"
        return f"{self.get_kind_display()}: {self.table_name}"


class InboundItem(models.Model):
    """One body Partner Center handed over, kept as received, and what became of it."""

    Status = InboundStatus

    source = models.ForeignKey(
        InboundSource, on_delete=models.CASCADE, related_name="items", verbose_name=_("source")
    )
    publisher = publisher_key(related_name="inbound_items")
    received_at = models.DateTimeField(_("received"))
    # The body as received (UTF-8 text; a table entity as JSON). Personal data: never logged.
    body = models.TextField(_("body"))
    # What makes a replay the same item: see inbound.services.dedupe_key_for_body.
    dedupe_key = models.CharField(_("replay key"), max_length=200)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.PENDING)
    reason_code = models.CharField(_("reason code"), max_length=40, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    is_test = models.BooleanField(_("test lead"), default=False)
    activity = optional_key("leads.LeadActivity", _("activity"))

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("inbound item")
        verbose_name_plural = _("inbound items")
        constraints = [
            models.UniqueConstraint(fields=["source", "dedupe_key"], name="inbound_item_replay"),
            choice_is_valid_constraint(
                field="status", choices=InboundStatus, name="inbound_item_status"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="inbound_item_due"),
            models.Index(fields=["source", "-received_at"], name="inbound_item_recent"),
            models.Index(fields=["publisher", "status"], name="inbound_item_pub_status"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_status_display()}"
