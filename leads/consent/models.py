"""Consent evidence: what granted or refused a lead's consent to nurture email, and why.

Append-only: intake, the unsubscribe, a bounce, a complaint and staff add rows, nothing
changes or deletes one (the rows name no person, and stay with an erased lead's id).
docs/partner-center.md ("Consent") has the rules.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.catalog.models import listing_reference_key
from leads.lifecycle.models import LeadActivity, lead_key
from portal.tenancy.model_fields import acting_user_key, choice_is_valid_constraint, optional_key


class ConsentBasis(models.TextChoices):
    EXPLICIT = "explicit", _("Explicit MarketingConsent flag")
    LISTING_POLICY = "listing-policy", _("The listing's consent policy")
    IMPORT = "import", _("Imported file")
    UNSUBSCRIBE = "unsubscribe", _("Withdrawn by unsubscribe")
    BOUNCE = "bounce", _("Bounced email")
    COMPLAINT = "complaint", _("Complaint")
    STAFF = "staff", _("Set by staff")


class ConsentReason(models.TextChoices):
    FLAG_TRUE = "flag-true", _("MarketingConsent was true.")
    FLAG_FALSE = "flag-false", _("MarketingConsent was false.")
    CONSENTED_EARLIER = "consented-earlier", _("No flag; the lead's earlier consent stands.")
    REFUSED_EARLIER = (
        "refused-earlier",
        _("No flag; the lead's earlier refusal stands, whatever the listing's policy."),
    )
    POLICY_ON = (
        "policy-on",
        _(
            "No flag; the listing's policy lets a customer who agreed to be contacted about this "
            "offer receive its nurture emails."
        ),
    )
    POLICY_OFF = "policy-off", _("No flag, and the listing's policy is off.")
    STRICTER_REGION = (
        "stricter-region",
        _("No flag, and the lead's country is one of the listing's stricter regions."),
    )
    UNKNOWN_COUNTRY = (
        "unknown-country",
        _("No flag, the listing has stricter regions and the lead's country is unknown."),
    )
    DO_NOT_CONTACT = (
        "do-not-contact",
        _("No flag, and the action was DNC: this customer is not to be contacted."),
    )
    UNSUBSCRIBED = "unsubscribed", _("The reader unsubscribed from the publisher's emails.")
    BOUNCED = (
        "bounced",
        _("A nurture email bounced: the address is suppressed and gets no more email."),
    )
    COMPLAINED = (
        "complained",
        _("The reader complained about the publisher's email: the address is suppressed."),
    )
    STAFF_GRANTED = "staff-granted", _("Staff recorded the lead's consent.")
    STAFF_REFUSED = "staff-refused", _("Staff recorded that the lead refused.")


class ConsentRecord(models.Model):
    """One decision about a lead's consent: granted or not, on what basis, and why."""

    Basis = ConsentBasis
    Reason = ConsentReason

    lead = lead_key(related_name="consent_records")
    is_granted = models.BooleanField(_("granted"))
    basis = models.CharField(_("basis"), max_length=16, choices=ConsentBasis)
    reason = models.CharField(_("why"), max_length=20, choices=ConsentReason)
    # The listing whose policy was weighed, and the activity (with its raw payload) that
    # applied it; both kept as evidence should the listing or activity go.
    listing = listing_reference_key(_("listing"))
    activity = optional_key(LeadActivity, _("activity"), related_name="consent_records")
    # The nurture email that bounced or drew the complaint, or that carried the unsubscribe
    # link; kept as evidence (the row outlives the lead's erasure, without the address).
    email_send = optional_key(
        "leads.EmailSend", _("from the email"), related_name="consent_records"
    )
    # The policy as it was: leads.consent.policy.policy_snapshot.
    policy = models.JSONField(_("policy as it was"), default=dict, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    recorded_by = acting_user_key(_("recorded by"))

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        constraints = [
            choice_is_valid_constraint(
                field="basis", choices=ConsentBasis, name="consentrecord_basis_valid"
            ),
            choice_is_valid_constraint(
                field="reason", choices=ConsentReason, name="consentrecord_reason_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["lead", "-recorded_at", "-id"], name="consentrecord_lead_time")
        ]

    def __str__(self):
        state = "granted" if self.is_granted else "not granted"
        return f"{self.lead_id}: {state} ({self.basis}, {self.reason})"

    @property
    def is_policy_grant(self) -> bool:
        """Granted by a listing's policy: valid for that listing's sequence only."""
        return self.is_granted and self.basis == ConsentBasis.LISTING_POLICY
