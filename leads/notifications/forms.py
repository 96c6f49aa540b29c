"""The member's new-lead email form, on the portal's settings page."""

from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.catalog import selectors as catalog_selectors
from leads.notifications.models import NotificationPreference
from leads.notifications.selectors import Choice


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class NotificationPreferenceForm(forms.Form):
    ALL, CHOSEN = "all", "chosen"

    mode = forms.ChoiceField(
        label=_("New-lead email"),
        choices=NotificationPreference.Mode.choices,
        widget=forms.RadioSelect,
    )
    scope = forms.ChoiceField(
        label=_("For"),
        choices=[(ALL, _("Every listing")), (CHOSEN, _("Only the listings chosen below"))],
        widget=forms.RadioSelect,
        initial=ALL,
    )
    listings = forms.ModelMultipleChoiceField(
        label=_("Listings"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    digest_hour = forms.TypedChoiceField(
        label=_("Digest hour"),
        coerce=int,
        choices=[(hour, f"{hour:02d}:00") for hour in range(24)],
        help_text=_("The daily digest is sent at this hour, in your time zone."),
    )
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices)

    def __init__(self, *args, publisher, choice: Choice | None = None, **kwargs):
        if choice is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "mode": choice.mode,
                "scope": self.ALL if choice.listing_ids is None else self.CHOSEN,
                "listings": sorted(choice.listing_ids or ()),
                "digest_hour": choice.digest_hour,
                "time_zone": choice.time_zone,
            }
        super().__init__(*args, **kwargs)
        self.fields["listings"].queryset = catalog_selectors.listings_for_publisher(
            publisher=publisher
        )

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("scope") == self.CHOSEN
        if chosen and not cleaned.get("listings") and cleaned.get("mode") != "off":
            self.add_error("listings", _("Choose at least one listing, or every listing."))
        return cleaned
