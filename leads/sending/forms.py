"""The sending identity's form: the From address a publisher's nurture email goes out under."""

from email.utils import parseaddr

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from leads.sending.keys import spf_include


class SendingIdentityForm(forms.Form):
    from_email = forms.EmailField(
        label=_("From address"),
        max_length=254,
        help_text=_(
            "An address at your own domain, such as news@contoso.com. Nurture email uses it "
            "once the DNS check passes."
        ),
    )

    def clean_from_email(self):
        address = self.cleaned_data["from_email"].strip()
        domain = address.rpartition("@")[2].lower()
        if "." not in domain:
            raise forms.ValidationError(
                _("Use an address at a public domain, such as contoso.com.")
            )
        platform = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2].lower()
        if domain in {platform, spf_include()}:
            raise forms.ValidationError(
                _("This is the portal's own domain: use an address at your own domain.")
            )
        return address
