"""The credentials of the intake and publisher APIs: storefront keys and publisher tokens."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.storefronts import Storefront
from portal.models import Publisher


class ApiKey(models.Model):
    """A machine credential for intake: a storefront key, or a Microsoft-seller key for
    Co-Sell referrals. Only the SHA-256 of the key is stored; the key is shown once."""

    class Kind(models.TextChoices):
        STOREFRONT = "storefront", _("Storefront")
        MICROSOFT_SELLER = "microsoft-seller", _("Microsoft seller (Co-Sell referrals)")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront, blank=True)
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="microsoft-seller", storefront="")
                | Q(kind="storefront", storefront__in=Storefront.values),
                name="apikey_storefront_matches_kind",
                violation_error_message=_(
                    "A storefront key names its storefront; a seller key none."
                ),
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class PublisherApiToken(models.Model):
    """A publisher's token for the publisher API. Stored hashed, shown once, revocable."""

    publisher = models.ForeignKey(
        Publisher, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("publisher")
    )
    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("publisher API token")
        verbose_name_plural = _("publisher API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
