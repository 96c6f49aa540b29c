"""How far the daily rollup has got: the dashboard reads it to tell figures that are up to
date from figures still being prepared (leads.reporting.rollup)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


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
