"""Saved views of the lead list. A view belongs to one user within one publisher: nobody
else sees it, not even the publisher's other members (docs/portal.md, Saved views)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import TimestampedModel, publisher_key, user_key


class SavedView(TimestampedModel):
    """The list's query, kept as its query values: `filters` holds codes and ids only; the
    search text, which may name a person, is its own column (privacy/registry.py)."""

    publisher = publisher_key(related_name="saved_views")
    user = user_key(related_name="saved_lead_views")
    name = models.CharField(_("name"), max_length=80)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    search = models.CharField(_("search"), max_length=200, blank=True)
    sort = models.CharField(_("sort"), max_length=20, blank=True)
    # None: the default columns; else the keys of leads.lifecycle.columns, in any order.
    columns = models.JSONField(_("columns"), null=True, blank=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "user", "name"], name="saved_view_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
