"""The portal's listing forms: create and edit a listing, and filter the list.

The storefront/type rule of DESIGN §1 is the model's own `clean()`, so its message lands
next to the listing type field. The storefront is fixed once a listing exists.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from leads.catalog.regions import countries_display, countries_parse
from leads.catalog.storefronts import LISTING_TYPES_BY_STOREFRONT, ListingType, Storefront
from leads.models import Listing


def _types_help() -> str:
    return " ".join(
        f"{Storefront(storefront).label}: "
        + ", ".join(str(ListingType(t).label) for t in types)
        + "."
        for storefront, types in LISTING_TYPES_BY_STOREFRONT.items()
    )


class CountryListField(forms.CharField):
    """ISO alpha-2 codes (and the shorthands EEA, EU) as typed; cleans to the stored form."""

    def to_python(self, value):
        return countries_parse(super().to_python(value))

    def prepare_value(self, value):
        try:
            return countries_display(countries_parse(value))
        except ValidationError:
            return value  # what the publisher typed, shown back beside its error


# The consent policy's fields, shown in a fieldset of their own.
CONSENT_FIELDS = ("nurture_on_offer_consent", "consent_strict_countries")


class ListingForm(forms.ModelForm):
    """A listing's storefront (on creation only), type, name, offer id and consent policy."""

    class Meta:
        model = Listing
        fields = ["storefront", "listing_type", "name", "offer_id", *CONSENT_FIELDS]
        widgets = {"storefront": forms.RadioSelect}
        field_classes = {"consent_strict_countries": CountryListField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["storefront"].choices = Storefront.choices  # radios need no blank choice
        self.fields["listing_type"].help_text = _(
            "Each storefront sells its own types. %(types)s"
        ) % {"types": _types_help()}
        self.fields["consent_strict_countries"].widget.attrs["placeholder"] = "EEA, GB, CH"
        if self.instance.pk:
            self.fields["storefront"].disabled = True
            self.fields["storefront"].help_text = _(
                "A listing stays on its storefront; create another listing for the other one."
            )

    def listing_fields(self):
        return [field for field in self if field.name not in CONSENT_FIELDS]

    def consent_fields(self):
        return [self[name] for name in CONSENT_FIELDS]


class ListingFilterForm(forms.Form):
    """The listing list's filters and sort order; every field is optional."""

    SORTS = {
        "name": ("name", "pk"),
        "-created": ("-created_at", "-pk"),
        "storefront": ("storefront", "name", "pk"),
        "status": ("status", "name", "pk"),
    }
    SORT_CHOICES = [
        ("name", _("Name")),
        ("-created", _("Newest first")),
        ("storefront", _("Storefront")),
        ("status", _("Status")),
    ]
    LEAD_MANAGEMENT_CHOICES = [("", _("Any")), ("on", _("Enabled")), ("off", _("Not enabled"))]

    storefront = forms.ChoiceField(
        label=_("Storefront"), required=False, choices=[("", _("All")), *Storefront.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *Listing.Status.choices]
    )
    lead_management = forms.ChoiceField(
        label=_("Lead management"), required=False, choices=LEAD_MANAGEMENT_CHOICES
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)

    def apply(self, listings: QuerySet[Listing]) -> QuerySet[Listing]:
        """The listings narrowed and ordered as the form says (unfiltered when invalid)."""
        data = self.cleaned_data if self.is_valid() else {}
        conditions = Q()
        if data.get("storefront"):
            conditions &= Q(storefront=data["storefront"])
        if data.get("status"):
            conditions &= Q(status=data["status"])
        if data.get("lead_management"):
            conditions &= Q(lead_management_enabled=data["lead_management"] == "on")
        return listings.filter(conditions).order_by(*self.SORTS[data.get("sort") or "name"])
