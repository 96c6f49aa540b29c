"""Forms of the portal shell: publisher settings, API tokens and members."""

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.tenancy.models import (
    RETENTION_MONTHS_MAX,
    RETENTION_MONTHS_MIN,
    Membership,
    Publisher,
)


class PublisherContactForm(forms.ModelForm):
    """The lead contact email and the postal address; the model's labels and help apply."""

    class Meta:
        model = Publisher
        fields = ["lead_contact_email", "postal_address"]
        widgets = {"postal_address": forms.Textarea(attrs={"rows": 4})}


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=120,
        help_text=_("Say where it is used, for example “Power BI refresh”."),
    )


class MemberInviteForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        # The address becomes the username of a new user, which holds 150 characters.
        max_length=150,
        help_text=_("A new user gets an email with a link to choose a password."),
    )
    role = forms.ChoiceField(
        label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.MEMBER
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)


class RetentionForm(forms.Form):
    """Retention: off, or N months (1–120) after a lead's last activity."""

    OFF, ON = "off", "on"

    mode = forms.ChoiceField(
        label=_("Retention"),
        choices=[
            (OFF, _("Keep leads until someone erases them")),
            (ON, _("Erase leads some months after their last activity")),
        ],
        widget=forms.RadioSelect,
    )
    months = forms.IntegerField(
        label=_("Months after the last activity"),
        required=False,
        min_value=RETENTION_MONTHS_MIN,
        max_value=RETENTION_MONTHS_MAX,
        help_text=_(
            "From 1 to 120. The last activity is the lead's latest storefront interaction "
            "or status change."
        ),
    )

    @classmethod
    def for_publisher(cls, publisher: Publisher) -> "RetentionForm":
        months = publisher.retention_months
        return cls(initial={"mode": cls.ON if months else cls.OFF, "months": months})

    def clean(self):
        cleaned = super().clean()
        is_on = cleaned.get("mode") == self.ON
        if is_on and cleaned.get("months") is None and "months" not in self.errors:
            self.add_error("months", _("Say after how many months (1 to 120)."))
        return cleaned

    @property
    def retention_months(self) -> int | None:
        """The setting the form chose: None (off) or the months."""
        return self.cleaned_data["months"] if self.cleaned_data["mode"] == self.ON else None
