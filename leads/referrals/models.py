"""A Co-Sell referral as Partner Center's Referrals API carries it, linked to its lead.

Partner Center is the truth for a referral synced from its API; the row keeps what the
API last said, plus the publisher's own change while it is on its way there
(`sync_state` pending, the JSON Patch operations in `pending_change`).
"""

from datetime import date
from decimal import Decimal

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from leads.lifecycle.models import Lead
from leads.referrals.transitions import TERMINAL_SUBSTATUSES
from portal.tenancy.model_fields import (
    TimestampedModel,
    acting_user_key,
    choice_is_valid_constraint,
    optional_key,
    publisher_key,
)

# The Co-Sell list sorts a referral without a close date or a deal value as this far end of
# the sort's direction, so that it comes last either way (leads.lifecycle.referral_sorts).
# The deal value's ends are whole numbers: SQLite compares decimals as doubles, and a
# 16-digit end (…99.99) did not come back from a page's cursor as the same double.
CLOSE_DATE_LOWEST, CLOSE_DATE_HIGHEST = date.min, date.max
DEAL_VALUE_LOWEST, DEAL_VALUE_HIGHEST = Decimal("-99999999999999"), Decimal("99999999999999")


def sort_index(name: str, field: str, missing) -> models.Index:
    """The index a Co-Sell list sort walks: (publisher, the field or `missing`, lead)."""
    return models.Index(F("publisher"), Coalesce(field, Value(missing)), F("lead"), name=name)


class ReferralStatus(models.TextChoices):
    NONE = "None", _("None")
    NEW = "New", _("New")
    ACTIVE = "Active", _("Active")
    CLOSED = "Closed", _("Closed")


class ReferralSubstatus(models.TextChoices):
    NONE = "None", _("None")
    PENDING = "Pending", _("Pending")
    RECEIVED = "Received", _("Received")
    ACCEPTED = "Accepted", _("Accepted")
    DECLINED = "Declined", _("Declined")
    WON = "Won", _("Won")
    LOST = "Lost", _("Lost")
    EXPIRED = "Expired", _("Expired")


class ReferralSyncState(models.TextChoices):
    LOCAL = "local", _("Not in the Referrals API")
    SYNCED = "synced", _("Synced")
    PENDING = "pending", _("Sending to Partner Center")
    FAILED = "failed", _("Failed")


class Referral(TimestampedModel):
    """One Partner Center referral of a publisher (unique per publisher and referral id)."""

    Status = ReferralStatus
    Substatus = ReferralSubstatus
    SyncState = ReferralSyncState

    publisher = publisher_key(related_name="referrals")
    lead = optional_key(
        Lead,
        _("lead"),
        related_name="referrals",
        help_text=_("Empty when the referral names no customer contact with an email."),
    )
    partner_center_id = models.CharField(_("referral id"), max_length=150)
    engagement_id = models.CharField(_("engagement id"), max_length=150, blank=True)
    name = models.CharField(_("name"), max_length=300, blank=True)
    customer_name = models.CharField(_("customer"), max_length=200, blank=True)
    customer_need = models.TextField(_("customer need"), blank=True)
    deal_value = models.DecimalField(
        _("deal value"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    close_date = models.DateField(_("close date"), null=True, blank=True)
    seller_name = models.CharField(_("Microsoft seller"), max_length=200, blank=True)
    seller_email = models.EmailField(_("seller email"), max_length=254, blank=True)
    seller_phone = models.CharField(_("seller phone"), max_length=50, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ReferralStatus, default=ReferralStatus.NEW
    )
    substatus = models.CharField(
        _("substatus"), max_length=10, choices=ReferralSubstatus, default=ReferralSubstatus.PENDING
    )
    status_reason = models.CharField(_("status reason"), max_length=500, blank=True)
    referral_type = models.CharField(_("type"), max_length=20, blank=True)
    qualification = models.CharField(_("qualification"), max_length=30, blank=True)
    direction = models.CharField(_("direction"), max_length=10, blank=True)
    pc_created_at = models.DateTimeField(_("created in Partner Center"), null=True, blank=True)
    pc_updated_at = models.DateTimeField(_("updated in Partner Center"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    sync_state = models.CharField(
        _("sync state"), max_length=10, choices=ReferralSyncState, default=ReferralSyncState.LOCAL
    )
    # The JSON Patch operations waiting to reach Partner Center, and the status they set.
    pending_change = models.JSONField(_("pending change"), default=dict, blank=True)
    push_attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_push_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    push_error = models.CharField(_("last error"), max_length=500, blank=True)
    changed_by = acting_user_key(_("changed by"))
    raw = models.JSONField(_("as Partner Center sent it"), default=dict, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "partner_center_id"], name="referral_unique_per_publisher"
            ),
            choice_is_valid_constraint(
                field="status", choices=ReferralStatus, name="referral_status_valid"
            ),
            choice_is_valid_constraint(
                field="substatus", choices=ReferralSubstatus, name="referral_substatus_valid"
            ),
            choice_is_valid_constraint(
                field="sync_state", choices=ReferralSyncState, name="referral_sync_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["publisher", "-updated_at", "-id"], name="referral_pub_updated"),
            models.Index(fields=["lead", "-updated_at"], name="referral_lead_updated"),
            models.Index(fields=["sync_state", "next_push_at"], name="referral_push_due"),
            sort_index("referral_pub_close_lo", "close_date", CLOSE_DATE_LOWEST),
            sort_index("referral_pub_close_hi", "close_date", CLOSE_DATE_HIGHEST),
            sort_index("referral_pub_value_lo", "deal_value", DEAL_VALUE_LOWEST),
            sort_index("referral_pub_value_hi", "deal_value", DEAL_VALUE_HIGHEST),
        ]

    def __str__(self):
        return self.name or self.partner_center_id

    @property
    def is_terminal(self) -> bool:
        return self.substatus in TERMINAL_SUBSTATUSES
