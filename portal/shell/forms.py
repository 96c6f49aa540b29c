"""Forms of the portal shell: publisher settings, API tokens and members."""

from django import forms
from django.utils.translation import gettext_lazy as _

from portal.tenancy.models import Membership, Publisher


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
