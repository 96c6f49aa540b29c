"""Which provider account a user signed in with."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import CreatedModel, user_key


class SsoIdentity(CreatedModel):
    """A user's account at an OpenID provider: its issuer and subject (`sub`).

    Bound on the first sign-in that matched the user by verified email; later sign-ins
    match by subject, so that an email address given to someone else later at the
    provider does not open this account. `staff_by_group`: staff status came from the
    OIDC_STAFF_GROUP claim (and goes when the claim does).
    """

    user = user_key(related_name="sso_identities")
    issuer = models.CharField(_("issuer"), max_length=300)
    subject = models.CharField(_("subject"), max_length=255)
    staff_by_group = models.BooleanField(_("staff from the group claim"), default=False)

    class Meta:
        verbose_name = _("single sign-on identity")
        verbose_name_plural = _("single sign-on identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
            models.UniqueConstraint(fields=["user", "issuer"], name="sso_identity_user_issuer"),
        ]

    def __str__(self):
        return f"{self.user} @ {self.issuer}"
