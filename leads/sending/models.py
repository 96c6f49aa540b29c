"""A publisher's sending identity: its own From address, DKIM key and DNS check (docs/email.md)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.encrypted_fields import EncryptedJSONField
from portal.tenancy.model_fields import TimestampedModel, choice_is_valid_constraint


class IdentityStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("Not verified")
    VERIFIED = "verified", _("Verified")
    FAILED = "failed", _("Check failed")


class SendingIdentity(TimestampedModel):
    """The From address a publisher's nurture email goes out under once its DNS is verified
    (SPF include, DKIM selector and key, DMARC policy); until then, DEFAULT_FROM_EMAIL's."""

    Status = IdentityStatus

    publisher = models.OneToOneField(
        "portal.Publisher",
        on_delete=models.CASCADE,
        related_name="sending_identity",
        verbose_name=_("publisher"),
    )
    from_email = models.EmailField(_("From address"), max_length=254)
    domain = models.CharField(_("domain"), max_length=253)
    dkim_selector = models.CharField(_("DKIM selector"), max_length=63)
    # {"private_key": PEM}; encrypted at rest, never shown back.
    dkim_key = EncryptedJSONField(_("DKIM private key"), default=dict)
    # The public half, base64 DER as published in the selector's TXT record.
    dkim_public_key = models.TextField(_("DKIM public key"))
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.UNVERIFIED)
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True)
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    # The last check, per record: {"spf": {"status": "ok", "found": [...]}, "dkim": …}.
    check_results = models.JSONField(_("check results"), default=dict, blank=True)

    class Meta:
        verbose_name = _("sending identity")
        verbose_name_plural = _("sending identities")
        constraints = [
            choice_is_valid_constraint(
                field="status", choices=IdentityStatus, name="sendingidentity_status_valid"
            )
        ]

    def __str__(self):
        return f"{self.from_email} ({self.get_status_display()})"

    @property
    def is_verified(self) -> bool:
        return self.status == self.Status.VERIFIED
