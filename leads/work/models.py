"""Working a lead: the notes members write on it, and the record of two leads merged."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from leads.lifecycle.models import Lead, lead_key
from portal.tenancy.model_fields import TimestampedModel, acting_user_key, publisher_key


class LeadNote(TimestampedModel):
    """A member's note on a lead. Its author edits or deletes it; an owner may delete it."""

    lead = lead_key(related_name="notes")
    author = acting_user_key(_("author"))
    body = models.TextField(_("note"), max_length=5000)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead note")
        verbose_name_plural = _("lead notes")
        indexes = [models.Index(fields=["lead", "-created_at"], name="leadnote_lead_created")]

    def __str__(self):
        return f"{self.lead_id} {self.created_at:%Y-%m-%d %H:%M}"


class LeadMerge(models.Model):
    """Two leads of one person merged: what moved from `merged` to `survivor`, and the
    survivor's fields as they were, so that Undo restores exactly the previous state."""

    publisher = publisher_key(related_name="+")
    survivor = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="merges_in", verbose_name=_("survivor")
    )
    merged = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="merges_out", verbose_name=_("merged lead")
    )
    merged_by = acting_user_key(_("merged by"))
    # {"activities": [ids], "transitions": [ids], "notes": [ids]}: the rows that moved.
    moved = models.JSONField(_("rows moved"), default=dict)
    # The survivor's fields the merge filled in, with their values before it.
    survivor_before = models.JSONField(_("survivor before the merge"), default=dict)
    created_at = models.DateTimeField(_("merged"), auto_now_add=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = acting_user_key(_("undone by"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead merge")
        verbose_name_plural = _("lead merges")
        indexes = [models.Index(fields=["survivor", "-created_at"], name="leadmerge_survivor")]

    def __str__(self):
        return f"{self.merged_id} → {self.survivor_id}"

    @property
    def is_active(self) -> bool:
        return self.undone_at is None
