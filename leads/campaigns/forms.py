"""Forms of the campaign pages: a campaign, and a step of its nurture sequence."""

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leads.campaigns.services import campaign_code_taken
from leads.catalog.storefronts import CAMPAIGN_KIND_BY_STOREFRONT, CampaignKind
from leads.models import Campaign, Listing, NurtureStep
from leads.nurture.delays import MAX_DELAY_MINUTES, DelayUnit, delay_minutes, delay_parts
from leads.nurture.render import PLACEHOLDERS, template_errors


class CampaignForm(forms.ModelForm):
    """Create or edit a campaign. The storefront decides the kind and the listings."""

    listings = forms.ModelMultipleChoiceField(
        queryset=Listing.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Listings"),
        help_text=gettext_lazy("Only your listings on the campaign's storefront."),
    )

    class Meta:
        model = Campaign
        fields = (
            "name",
            "code",
            "storefront",
            "starts_on",
            "ends_on",
            "goal_qualified_leads",
            "qualification_threshold",
            "status",
        )
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}),
            "ends_on": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, publisher, **kwargs):
        super().__init__(*args, **kwargs)
        self.publisher = publisher
        listings = Listing.objects.filter(publisher=publisher).order_by("storefront", "name")
        if self.instance.pk:
            # A campaign offers only its own storefront's listings.
            listings = listings.filter(storefront=self.instance.storefront)
        else:
            # A new campaign's storefront is chosen on the same form: say each listing's.
            self.fields["listings"].label_from_instance = lambda listing: (
                f"{listing.name} · {listing.get_storefront_display()}"
            )
        self.fields["listings"].queryset = listings
        self.fields["storefront"].help_text = _(
            "AppSource campaigns are nurture campaigns; Azure Marketplace campaigns are "
            "demand generation."
        )
        if self.instance.pk:
            # Its listings are tied to the storefront (composite foreign keys).
            self.fields["storefront"].disabled = True
            self.initial["listings"] = list(self.instance.listings.values_list("pk", flat=True))

    @property
    def kind_label(self) -> str:
        storefront = self.instance.storefront or self.data.get("storefront", "")
        kind = CAMPAIGN_KIND_BY_STOREFRONT.get(storefront)
        return str(CampaignKind(kind).label) if kind else ""

    def clean_code(self):
        code = self.cleaned_data["code"]
        if campaign_code_taken(publisher=self.publisher, code=code, exclude_id=self.instance.pk):
            raise forms.ValidationError(
                _("You already have a campaign with the code %(code)s. Choose another.")
                % {"code": code}
            )
        return code

    def clean(self):
        cleaned = super().clean()
        storefront = cleaned.get("storefront")
        for listing in cleaned.get("listings") or ():
            if storefront and listing.storefront != storefront:
                self.add_error(
                    "listings",
                    _("%(listing)s is on %(listing_storefront)s, not on the campaign's storefront.")
                    % {
                        "listing": listing.name,
                        "listing_storefront": listing.get_storefront_display(),
                    },
                )
        return cleaned

    def service_fields(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "storefront"}
        return data


class _TemplateFieldsMixin:
    """The subject and body checks shared by the step form and the live preview (S11)."""

    def _clean_template(self, name: str) -> str:
        text = self.cleaned_data[name]
        errors = template_errors(text)
        if errors:
            raise forms.ValidationError(errors)
        return text

    def clean_subject(self):
        subject = self._clean_template("subject")
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(_("A subject is one line."))
        return subject

    def clean_body(self):
        return self._clean_template("body")


class StepPreviewForm(_TemplateFieldsMixin, forms.Form):
    """What the step editor's live preview renders: the subject and body being typed."""

    subject = forms.CharField(
        label=gettext_lazy("Subject"), max_length=200, required=False, strip=False
    )
    body = forms.CharField(
        label=gettext_lazy("Body"), max_length=20_000, required=False, strip=False
    )


class StepForm(_TemplateFieldsMixin, forms.ModelForm):
    """A step of the sequence. Placeholders only; anything else is refused here (S11).
    The delay is a number and a unit (minutes, hours, days), stored in minutes."""

    delay_value = forms.IntegerField(
        label=gettext_lazy("Delay"),
        min_value=0,
        initial=0,
        help_text=gettext_lazy(
            "After enrolment for the first step, after the previous step otherwise. "
            "At most 365 days."
        ),
    )
    delay_unit = forms.ChoiceField(
        label=gettext_lazy("Unit"), choices=DelayUnit.choices, initial=DelayUnit.DAYS
    )

    class Meta:
        model = NurtureStep
        fields = ("subject", "body", "stop_condition")
        widgets = {"body": forms.Textarea(attrs={"rows": 12})}

    field_order = ("delay_value", "delay_unit", "subject", "body", "stop_condition")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            value, unit = delay_parts(self.instance.delay_minutes)
            self.initial.update(delay_value=value, delay_unit=unit)
        allowed = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        self.fields["body"].help_text = _(
            "Markdown: blank lines start paragraphs, **bold**, *italic*, - lists, "
            "[a link](https://…), [Unsubscribe]({unsubscribe_url}). No HTML or images. "
            "Placeholders: %(allowed)s."
        ) % {"allowed": allowed}

    def clean(self):
        cleaned = super().clean()
        value, unit = cleaned.get("delay_value"), cleaned.get("delay_unit")
        if value is not None and unit and delay_minutes(value, unit) > MAX_DELAY_MINUTES:
            self.add_error("delay_value", _("A delay is at most 365 days."))
        return cleaned

    def service_fields(self) -> dict:
        """What leads.nurture.services.step_save takes."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["delay_minutes"] = delay_minutes(
            self.cleaned_data["delay_value"], self.cleaned_data["delay_unit"]
        )
        return data
