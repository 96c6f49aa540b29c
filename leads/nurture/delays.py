"""A step's delay: stored in minutes, edited and shown as a number of minutes, hours or days."""

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

MINUTES_PER_UNIT = {"minutes": 1, "hours": 60, "days": 24 * 60}
MAX_DELAY_MINUTES = 365 * MINUTES_PER_UNIT["days"]


class DelayUnit(models.TextChoices):
    MINUTES = "minutes", gettext_lazy("minutes")
    HOURS = "hours", gettext_lazy("hours")
    DAYS = "days", gettext_lazy("days")


def delay_parts(minutes: int) -> tuple[int, str]:
    """The delay in the largest unit that holds it exactly: 2880 → (2, "days")."""
    for unit in (DelayUnit.DAYS, DelayUnit.HOURS):
        size = MINUTES_PER_UNIT[unit]
        if minutes and minutes % size == 0:
            return minutes // size, unit.value
    return minutes, DelayUnit.MINUTES.value


def delay_minutes(value: int, unit: str) -> int:
    """A number of `unit`s in minutes."""
    return value * MINUTES_PER_UNIT[unit]


def delay_words(minutes: int) -> str:
    """The delay in words, translated: "30 minutes", "1 hour", "2 days", "No delay"."""
    if not minutes:
        return _("No delay")
    value, unit = delay_parts(minutes)
    if unit == DelayUnit.DAYS:
        return ngettext("%(count)d day", "%(count)d days", value) % {"count": value}
    if unit == DelayUnit.HOURS:
        return ngettext("%(count)d hour", "%(count)d hours", value) % {"count": value}
    return ngettext("%(count)d minute", "%(count)d minutes", value) % {"count": value}
