"""What the privacy app keeps: the access log and the erasure journal (docs/privacy.md).

Neither keeps a person's data: an access entry names the action and the object ids, an
erasure record a keyed hash of the address (leads.nurture.address_hash) and lead ids.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import acting_user_key, publisher_key


class AccessAction(models.TextChoices):
    VIEW = "view", _("Viewed")
    LIST = "list", _("Listed")
    FIND = "find", _("Searched for a person")
    EXPORT = "export", _("Exported")
    ERASE = "erase", _("Erased")


class AccessSource(models.TextChoices):
    ADMIN = "admin", _("Admin")
    PORTAL = "portal", _("Portal")
    COMMAND = "command", _("Command")
    RETENTION = "retention", _("Retention")
    REPLAY = "replay", _("Journal replay")


class AccessLogEntry(models.Model):
    """Who looked at, exported or erased which rows, and when; never what they saw."""

    Action = AccessAction
    Source = AccessSource

    publisher = publisher_key(related_name="+", null=True, blank=True)
    user = acting_user_key(_("user"))
    # The user's name when the entry was written: the entry outlives the account.
    username = models.CharField(_("username"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=AccessAction)
    source = models.CharField(_("source"), max_length=10, choices=AccessSource)
    # "leads.lead", "leads.leadactivity" ... ; empty for a search or a whole-person action.
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_ids = models.JSONField(_("object ids"), default=list, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        indexes = [
            models.Index(fields=["publisher", "-created_at", "-id"], name="accesslog_pub_created"),
            models.Index(fields=["-created_at", "-id"], name="accesslog_created"),
        ]

    def __str__(self):
        return f"{self.username or '-'} {self.action} {self.object_type}"


class ErasureRecord(models.Model):
    """One erasure: who asked, when, why, the address's keyed hash and the leads erased.
    The journal `manage.py replay_erasures` applies again after a restore."""

    Source = AccessSource

    uuid = models.UUIDField(_("erasure id"), default=uuid.uuid4, unique=True, editable=False)
    publisher = publisher_key(related_name="+")
    requested_by = acting_user_key(_("requested by"))
    requested_by_name = models.CharField(_("requested by (name)"), max_length=150, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=AccessSource)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    # HMAC-SHA256 of the normalized address under the suppression list's key, one per lead
    # address (a lead erased by retention has its own); never the address itself.
    email_hashes = models.JSONField(_("address hashes"), default=list)
    lead_ids = models.JSONField(_("lead ids"), default=list)
    # Per recipient: {"delivery", "target", "target_name", "kind", "status"}; the status
    # follows the erasure delivery (privacy.selectors.erasure_outcomes reads it live).
    recipients = models.JSONField(_("recipients"), default=list, blank=True)
    counts = models.JSONField(_("rows changed per store"), default=dict, blank=True)
    created_at = models.DateTimeField(_("erased"), default=timezone.now)
    replayed_at = models.DateTimeField(_("last replayed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")
        indexes = [
            models.Index(fields=["publisher", "-created_at"], name="erasure_pub_created"),
        ]

    def __str__(self):
        return f"{self.uuid} ({len(self.lead_ids)} leads)"
