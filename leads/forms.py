"""Forms of the lead pages: the list's filters, bulk moves, a lead's move, the CSV import."""

from datetime import datetime, time, timedelta
from uuid import UUID

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.catalog import selectors
from leads.catalog.storefronts import Storefront
from leads.filter_fields import FilterChoiceField, FilterModelChoiceField
from leads.intake import csv_import
from leads.lifecycle import columns as lead_columns
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle.selectors import DEFAULT_SORT, LEAD_SORTS, LeadFilters
from leads.models import Lead, LeadStatus, ReferralStatus, ReferralSubstatus
from leads.widgets import PlainSelect
from leads.work.selectors import member_choices

MAX_BULK_LEADS = 500
# The owner filter's value for leads nobody owns.
OWNER_NONE = "none"


PAGE_SIZES = (25, 50, 100, 200)


class LeadFilterForm(forms.Form):
    """The lead list's GET form. Invalid fields are dropped, never fatal (see `filters`)."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        help_text=_(
            "Part of a name, a company, an email domain or a listing, accents and case "
            "aside; or a whole email address."
        ),
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    storefront = FilterChoiceField(
        label=_("Storefront"), any_label=_("Any storefront"), choices=Storefront.choices
    )
    listing = FilterModelChoiceField(label=_("Listing"), any_label=_("Any listing"))
    campaign = FilterModelChoiceField(label=_("Campaign"), any_label=_("Any campaign"))
    status = FilterChoiceField(
        label=_("Status"), any_label=_("Any status"), choices=LeadStatus.choices
    )
    score_min = forms.IntegerField(
        label=_("Score from"), required=False, min_value=0, max_value=100
    )
    score_max = forms.IntegerField(label=_("Score to"), required=False, min_value=0, max_value=100)
    # The Co-Sell filters: Partner Center's status (New, Active, Closed), and its sub-status,
    # which says the status too.
    referral_status = FilterChoiceField(
        label=_("Partner Center status"),
        any_label=_("Any status"),
        choices=ReferralStatus.choices[1:],
    )
    referral = FilterChoiceField(
        label=_("Sub-status"),
        any_label=_("Any sub-status"),
        choices=ReferralSubstatus.choices[1:],
    )
    owner = forms.ChoiceField(label=_("Owner"), required=False, widget=PlainSelect)
    created_from = forms.DateField(
        label=_("Created from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label=_("Created to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(name, name) for name in LEAD_SORTS],
        widget=forms.HiddenInput,
    )
    size = forms.TypedChoiceField(
        label=_("Rows per page"),
        required=False,
        coerce=int,
        choices=[(size, size) for size in PAGE_SIZES],
        empty_value=None,
    )
    # "name" is always sent with a choice, so that "col" in the query means "chosen".
    col = forms.MultipleChoiceField(
        label=_("Columns"),
        required=False,
        choices=[("name", "name")] + [(c.key, c.label) for c in lead_columns.LEAD_COLUMNS],
        widget=forms.CheckboxSelectMultiple,
    )

    # The fields a saved view keeps, besides the search text, the sort and the columns.
    SAVED_FIELDS = (
        "status",
        "storefront",
        "listing",
        "campaign",
        "score_min",
        "score_max",
        "created_from",
        "created_to",
        "size",
    )

    def __init__(self, *args, publisher, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["listing"].queryset = selectors.listings_for_publisher(publisher=publisher)
        self.fields["campaign"].queryset = lead_selectors.campaigns_for_filter(publisher=publisher)
        self.fields["owner"].choices = [
            ("", _("Anyone")),
            (OWNER_NONE, _("Unassigned")),
            *(members if members is not None else member_choices(publisher=publisher)),
        ]

    def clean(self):
        data = super().clean()
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            self.add_error("score_max", _("The upper score must be at least the lower one."))
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", _("The end date must not be before the start date."))
        return data

    def sort_choice(self):
        """The whitelisted sort the list is in (the default for a missing or unknown one)."""
        self.is_valid()
        return LEAD_SORTS[self.cleaned_data.get("sort") or DEFAULT_SORT]

    def page_size(self) -> int | None:
        """The rows per page chosen (None: the list's default)."""
        self.is_valid()
        return self.cleaned_data.get("size")

    def chosen_columns(self) -> list[str] | None:
        """The column keys chosen, or None when no choice was made (the defaults)."""
        self.is_valid()
        if "col" not in self.data or "col" in self.errors:
            return None
        return [key for key in self.cleaned_data.get("col") or [] if key != "name"]

    def saved_state(self) -> dict:
        """What a saved view keeps of this query: its valid fields as query values."""
        self.is_valid()
        filters = {
            name: str(self.data[name])
            for name in self.SAVED_FIELDS
            if self.data.get(name) and name not in self.errors
        }
        return {
            "filters": filters,
            "search": self.cleaned_data.get("q") or "",
            "sort": self.cleaned_data.get("sort") or "",
            "columns": self.chosen_columns(),
        }

    def filters(self, *, origin: str) -> LeadFilters:
        """The valid fields as selector filters; a field with an error is left out."""
        self.is_valid()
        data = self.cleaned_data

        def day_start(day):
            return timezone.make_aware(datetime.combine(day, time.min)) if day else None

        owner = data.get("owner")

        return LeadFilters(
            origin=origin,
            search=data.get("q") or None,
            storefront=data.get("storefront") or None,
            listing_id=data["listing"].pk if data.get("listing") else None,
            campaign_id=data["campaign"].pk if data.get("campaign") else None,
            status=data.get("status") or None,
            referral_substatus=data.get("referral") or None,
            referral_status=data.get("referral_status") or None,
            score_min=data.get("score_min"),
            score_max=data.get("score_max"),
            owner_id=int(owner) if owner and owner != OWNER_NONE else None,
            is_unassigned=owner == OWNER_NONE,
            since=day_start(data.get("created_from")),
            until=day_start(data["created_to"] + timedelta(days=1))
            if data.get("created_to")
            else None,
        )


class SelectedLeadsField(forms.Field):
    """The lead UUIDs ticked in the table (unreadable values are dropped)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        lead_ids = []
        for item in value or []:
            try:
                lead_ids.append(UUID(str(item)))
            except ValueError:
                continue
        return list(dict.fromkeys(lead_ids))

    def validate(self, value):
        if not value:
            raise ValidationError(_("Select at least one lead."), code="required")
        if len(value) > MAX_BULK_LEADS:
            raise ValidationError(
                _("Select at most %(limit)s leads at a time."),
                code="too_many",
                params={"limit": MAX_BULK_LEADS},
            )


_MOVE_TARGETS = [
    (value, label)
    for value, label in LeadStatus.choices
    if any(value in targets for targets in Lead.TRANSITIONS.values())
]


class MoveReasonField(forms.CharField):
    """Why leads move: required, at most 500 characters, white space around it dropped."""

    def __init__(self, **kwargs):
        super().__init__(label=_("Reason"), max_length=500, strip=True, **kwargs)


class BulkStatusForm(forms.Form):
    """Move the ticked leads to one status, for one reason."""

    lead = SelectedLeadsField(label=_("Leads"))
    to_status = forms.ChoiceField(
        label=_("Move the selected leads to"),
        choices=[("", _("Choose a status")), *_MOVE_TARGETS],
        widget=PlainSelect,
    )
    reason = MoveReasonField(help_text=_("Recorded in each lead's history."))


class LeadTransitionForm(forms.Form):
    """Move one lead along its lifecycle: only the moves its status allows."""

    to_status = forms.ChoiceField(label=_("New status"))
    reason = MoveReasonField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded in the lead's history with your name."),
    )

    def __init__(self, *args, lead: Lead, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [
            (status, LeadStatus(status).label) for status in Lead.TRANSITIONS[lead.status]
        ]


class LeadImportForm(forms.Form):
    """A CSV file of leads; its size is checked before it is read."""

    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Up to 20 MB and 100,000 rows, with a header row that names an email column."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    atomic = forms.BooleanField(
        label=_("All or nothing"),
        required=False,
        help_text=_("If any row has an error, import none of the rows."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        try:
            csv_import.size_check(size=upload.size)
        except csv_import.ImportRefused as exc:
            raise ValidationError(str(exc), code="too_big") from exc
        return upload


class SavedViewForm(forms.Form):
    """A saved view's name (saving the list's current query, or renaming a view)."""

    name = forms.CharField(label=_("View name"), max_length=80)

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Give the view a name."), code="required")
        return name
