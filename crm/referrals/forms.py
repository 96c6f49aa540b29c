"""The owner's form for the Partner Center connection: secrets are write-only."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import secret_field
from crm.models import ReferralConnection
from leads.catalog import selectors as catalog_selectors

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$")


class ReferralConnectionForm(forms.Form):
    listing = forms.ModelChoiceField(
        label=_("Listing"),
        queryset=None,
        help_text=_("The listing that the referrals' leads are filed under."),
    )
    tenant_id = forms.CharField(
        label=_("Directory (tenant) id"),
        max_length=100,
        help_text=_("Your Microsoft Entra tenant: its GUID or its domain, such as contoso.com."),
    )
    client_id = forms.CharField(
        label=_("Application (client) id"),
        max_length=36,
        help_text=_("The app registration with Microsoft Partner delegation."),
    )
    client_secret = secret_field(_("Client secret"), max_length=500)
    username = forms.EmailField(
        label=_("User name"),
        max_length=254,
        help_text=_("A Partner Center user with the Referrals Admin role."),
    )
    password = secret_field(_("Password"), autocomplete="new-password", max_length=500, strip=False)

    def __init__(self, *args, publisher, connection: ReferralConnection | None = None, **kwargs):
        if connection is not None:
            kwargs.setdefault(
                "initial",
                {
                    "listing": connection.listing_id,
                    "tenant_id": connection.tenant_id,
                    "client_id": connection.client_id,
                    "username": connection.username,
                },
            )
        super().__init__(*args, **kwargs)
        self.publisher, self.connection = publisher, connection
        self.fields["listing"].queryset = catalog_selectors.listings_for_publisher(
            publisher=publisher
        )
        keep = _("Leave empty to keep the stored one.")
        for name in ReferralConnection.SECRET_KEYS:
            if connection is not None and connection.secrets_set().get(name):
                self.fields[name].help_text = keep
            else:
                self.fields[name].required = True

    def clean_tenant_id(self) -> str:
        tenant = self.cleaned_data["tenant_id"].strip()
        if not _TENANT.match(tenant):
            raise forms.ValidationError(_("Enter the tenant's GUID or its domain name."))
        return tenant

    def clean_client_id(self) -> str:
        client_id = self.cleaned_data["client_id"].strip()
        if not _GUID.match(client_id):
            raise forms.ValidationError(
                _("Enter the application id, a GUID such as 0b9f6c1e-3a34-4f0e-9d55-1f1e2a6b7c8d.")
            )
        return client_id

    def clean(self):
        data = super().clean()
        if not self.publisher.co_sell_enrolled:
            raise forms.ValidationError(
                _("Your publisher is not Co-Sell enrolled: Partner Center shares no referral yet.")
            )
        return data
