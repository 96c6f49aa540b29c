"""The referral page's forms: accept, decline (with Partner Center's reasons), won, lost."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from leads.referrals import transitions

# The labels of transitions.DECLINE_REASONS, as the page shows them.
REASON_LABELS = {
    "budget": _("Budget"),
    "no-response": _("No response"),
    "other-vendor": _("Chose another vendor"),
    "requirement-not-met": _("Requirement not met"),
    "not-a-customer": _("Not a customer"),
    "timeline-too-short": _("Timeline too short"),
    "abuse": _("Abuse, spam or phishing"),
    "other": _("Other"),
}
REASON_CHOICES = [
    ("", _("Choose a reason")),
    *((code, REASON_LABELS[code]) for code, _label in transitions.DECLINE_REASONS),
]
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class ReferralActionForm(forms.Form):
    """One action's fields; `action` decides which are required."""

    deal_value = forms.DecimalField(
        label=_("Deal value"), required=False, min_value=0, max_digits=16, decimal_places=2
    )
    currency = forms.CharField(
        label=_("Currency"),
        required=False,
        max_length=3,
        help_text=_("ISO 4217 code, such as USD or EUR."),
    )
    close_date = forms.DateField(
        label=_("Close date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.ChoiceField(label=_("Reason"), required=False, choices=REASON_CHOICES)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=400,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Sent to Partner Center with the reason."),
    )

    FIELDS = {
        "accept": ("deal_value", "currency", "close_date"),
        "decline": ("reason", "note"),
        "won": ("note",),
        "lost": ("reason", "note"),
    }
    REQUIRED = {"accept": ("deal_value", "currency", "close_date"), "decline": ("reason",)}

    def __init__(self, *args, action: str, referral, **kwargs):
        kwargs.setdefault("prefix", action)
        kwargs.setdefault(
            "initial",
            {
                "deal_value": referral.deal_value,
                "currency": referral.currency,
                "close_date": referral.close_date,
            },
        )
        super().__init__(*args, **kwargs)
        self.action = action
        for name in list(self.fields):
            if name not in self.FIELDS[action]:
                del self.fields[name]
        for name in self.REQUIRED.get(action, ()):
            self.fields[name].required = True

    def clean_currency(self) -> str:
        currency = self.cleaned_data.get("currency", "").strip()
        if currency and not _CURRENCY.match(currency):
            raise forms.ValidationError(_("Enter a three-letter ISO 4217 code, such as USD."))
        return currency.upper()

    @property
    def label(self) -> str:
        return {
            "accept": _("Accept"),
            "decline": _("Decline"),
            "won": _("Mark won"),
            "lost": _("Mark lost"),
        }[self.action]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "deal_value": data.get("deal_value"),
            "currency": data.get("currency", ""),
            "close_date": data.get("close_date"),
            "reason": data.get("reason", ""),
            "note": data.get("note", ""),
        }
