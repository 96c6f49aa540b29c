"""How far the daily rollup has got: the dashboard reads it to tell figures that are up to
date from figures still being prepared (leads.reporting.rollup)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import publisher_key


class LeadRollupState(models.Model):
    """One row (pk 1), written only by `leads.reporting.rollup` for runs of every publisher."""

    current_through = models.DateTimeField(
        _("current through"),
        help_text=_("The start of the latest run that recomputed today: what came before is in."),
    )
    complete_from = models.DateField(
        _("complete from"),
        null=True,
        blank=True,
        help_text=_("The first day of the latest full-history run; empty before one ran."),
    )

    class Meta:
        verbose_name = _("lead rollup state")
        verbose_name_plural = _("lead rollup state")

    def __str__(self):
        return f"{self.current_through:%Y-%m-%d %H:%M}"


class LeadCohortStat(models.Model):
    """The Reports page's figures of one cohort hour (leads created that day and hour, in
    settings.TIME_ZONE) and group: the publisher's marketplace leads, test leads left out,
    by the listing, storefront and action code of their first activity.

    Written only by `leads.reporting.cohort`, which recomputes whole hours. On PostgreSQL
    the table also has `touch_seconds` (not a field, like `Lead.search_text`): the seconds
    from each touched lead's creation to its first touch, for the exact median.
    """

    publisher = publisher_key(related_name="+")
    day = models.DateField(_("day"))
    # The hour of the day the leads were created (local): a change recounts one hour's leads.
    hour = models.PositiveSmallIntegerField(_("hour"), default=0)
    # The first activity's listing id, as found (no key: the rows follow the activities).
    listing_id = models.BigIntegerField(_("listing"), null=True, blank=True)
    storefront = models.CharField(_("storefront"), max_length=20, blank=True)
    action_code = models.CharField(_("action code"), max_length=40, blank=True)
    leads = models.PositiveIntegerField(_("leads"), default=0)
    qualified = models.PositiveIntegerField(_("qualified"), default=0)
    accepted = models.PositiveIntegerField(_("accepted"), default=0)
    won = models.PositiveIntegerField(_("won"), default=0)

    class Meta:
        verbose_name = _("cohort lead figures")
        verbose_name_plural = _("cohort lead figures")
        indexes = [models.Index(fields=["publisher", "day"], name="leadcohortstat_pub_day")]

    def __str__(self):
        return f"{self.publisher_id} {self.day}: {self.leads}"


class LeadCohortDirty(models.Model):
    """A lead whose cohort figures changed since the last rollup: database triggers
    (PostgreSQL, migration 0026) write one row per change of a lead's status, qualification,
    origin or test flag, of its first activity or of its first touch, and per lead deleted.
    The rollup recomputes those cohort hours and deletes the rows; the Reports page counts
    the recent hours still listed live."""

    publisher_id = models.BigIntegerField(_("publisher"))
    created_at = models.DateTimeField(_("lead created"))

    class Meta:
        verbose_name = _("cohort day to recompute")
        verbose_name_plural = _("cohort days to recompute")
        indexes = [
            models.Index(fields=["publisher_id", "created_at"], name="leadcohortdirty_pub_created")
        ]

    def __str__(self):
        return f"{self.publisher_id} {self.created_at:%Y-%m-%d %H:%M}"
