"""Co-Sell referral entry: staff type in a referral a Microsoft seller passed on."""

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from pydantic import ValidationError as PydanticValidationError

from leads.admin.leads import LeadAdmin
from leads.intake import referrals
from leads.models import CoSellReferral, Lead, Listing


class ReferralForm(forms.ModelForm):
    """The referral's fields; saving goes through `referrals.referral_ingest`."""

    listing = forms.ModelChoiceField(
        label=_("Offer"),
        queryset=Listing.objects.filter(publisher__co_sell_enrolled=True).select_related(
            "publisher"
        ),
        help_text=_("Only listings of Co-Sell enrolled publishers."),
    )
    referral_id = forms.CharField(label=_("Referral id"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    email = forms.EmailField(label=_("Email"), max_length=254)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    country = forms.CharField(label=_("Country"), max_length=60, required=False)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    title = forms.CharField(label=_("Job title"), max_length=200, required=False)
    description = forms.CharField(label=_("Notes"), widget=forms.Textarea, required=False)

    class Meta:
        model = CoSellReferral
        fields: list[str] = []

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        listing = data["listing"]
        raw = {
            "ReferralId": data["referral_id"],
            "OfferId": listing.offer_id,
            "UserDetails": {
                "FirstName": data["first_name"],
                "LastName": data["last_name"],
                "Email": data["email"],
                "Phone": data["phone"],
                "Country": data["country"],
                "Company": data["company"],
                "Title": data["title"],
            },
            "Description": data["description"],
        }
        try:
            self.payload = referrals.ReferralPayload.model_validate(raw)
        except PydanticValidationError as exc:
            for error in exc.errors():
                field = {"Country": "country", "Email": "email"}.get(str(error["loc"][-1]))
                self.add_error(field, error["msg"])
        self.raw = raw
        return data

    def _post_clean(self):
        # The form never saves its instance: referral_ingest validates and writes the lead.
        pass


@admin.register(CoSellReferral)
class CoSellReferralAdmin(LeadAdmin):
    """Referrals only; adding one qualifies it and queues its deliveries."""

    add_form = ReferralForm
    inlines = []

    def get_queryset(self, request):
        return super().get_queryset(request).filter(origin=Lead.Origin.CO_SELL)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = list(self.add_form.base_fields)
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": list(self.add_form.base_fields)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        outcome = referrals.referral_ingest(
            payload=form.payload, raw=form.raw, entered_by=request.user
        )
        if outcome.errors:  # a race with an un-enrolment; shown as a message
            self.message_user(request, outcome.errors[0]["msg"], level="error")
        lead = Lead.objects.get(uuid=outcome.answer["id"]) if outcome.answer else None
        obj.pk = lead.pk if lead else None

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            return HttpResponseRedirect(reverse("admin:leads_cosellreferral_changelist"))
        return super().response_add(request, obj, post_url_continue)
