"""The credentials of the intake and publisher APIs: storefront keys and publisher tokens."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leads.catalog.storefronts import Storefront
from portal.tenancy.model_fields import CreatedModel, acting_user_key, publisher_key


class HashedCredential(CreatedModel):
    """A named secret shown once: its prefix identifies it, its hash (in the concrete
    model) checks it, and it can be revoked."""

    name = models.CharField(_("name"), max_length=120)
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class ApiKey(HashedCredential):
    """A machine credential for intake: a storefront key, or a Microsoft-seller key for
    Co-Sell referrals. Only the SHA-256 of the key is stored; the key is shown once."""

    class Kind(models.TextChoices):
        STOREFRONT = "storefront", _("Storefront")
        MICROSOFT_SELLER = "microsoft-seller", _("Microsoft seller (Co-Sell referrals)")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    storefront = models.CharField(_("storefront"), max_length=20, choices=Storefront, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta(HashedCredential.Meta):
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


class PublisherApiToken(HashedCredential):
    """A publisher's token for the publisher API. Stored hashed, shown once, revocable."""

    publisher = publisher_key(related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = acting_user_key(_("created by"))

    class Meta(HashedCredential.Meta):
        verbose_name = _("publisher API token")
        verbose_name_plural = _("publisher API tokens")
