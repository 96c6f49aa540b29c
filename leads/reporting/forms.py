"""The Reports page's choice of period and grouping."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.reporting.report import BY_LISTING, BY_SOURCE

# The longest period a report covers: a year, leap day included.
MAX_DAYS = 366
CUSTOM = "custom"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def preset_bounds(preset: str, today: date) -> tuple[date, date]:
    """The first and last day of a preset period, today included where it reaches it."""
    if preset == "this-month":
        return _month_start(today), today
    if preset == "last-month":
        last = _month_start(today) - timedelta(days=1)
        return _month_start(last), last
    days = int(preset)
    return today - timedelta(days=days - 1), today


class ReportForm(forms.Form):
    period = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[
            ("7", _("Last 7 days")),
            ("30", _("Last 30 days")),
            ("90", _("Last 90 days")),
            ("this-month", _("This month")),
            ("last-month", _("Last month")),
            (CUSTOM, _("From and to dates")),
        ],
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    by = forms.ChoiceField(
        label=_("Per"),
        required=False,
        choices=[(BY_LISTING, _("Listing")), (BY_SOURCE, _("Source (storefront and action)"))],
    )

    DEFAULT_PERIOD = "30"

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        period = cleaned.get("period") or (CUSTOM if date_from or date_to else self.DEFAULT_PERIOD)
        cleaned["period"] = period
        cleaned["by"] = cleaned.get("by") or BY_LISTING
        if period != CUSTOM:
            cleaned["since"], cleaned["until"] = preset_bounds(period, today)
            return cleaned
        if self.errors:
            return cleaned
        if date_from is None:
            self.add_error("date_from", _("Enter the first day of the period."))
        if date_to is None:
            self.add_error("date_to", _("Enter the last day of the period."))
        if date_from is None or date_to is None:
            return cleaned
        if date_from > today:
            self.add_error("date_from", _("The period cannot start after today."))
        elif date_to < date_from:
            self.add_error("date_to", _("The last day cannot be before the first day."))
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            self.add_error(
                "date_to",
                _("A report covers at most %(days)s days.") % {"days": MAX_DAYS},
            )
        else:
            cleaned["since"], cleaned["until"] = date_from, date_to
        return cleaned
