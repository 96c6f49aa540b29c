"""Sign-in forms: the staff rule on local passwords, and the TOTP code."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

STAFF_NEED_SSO = _(
    "Staff accounts sign in with single sign-on: use the “Sign in with …” button "
    "above. Local passwords are switched off for staff."
)


def refuse_staff_password(user) -> None:
    """Only called once the password was right, so it reveals nothing to a guesser."""
    if user.is_staff and not settings.LOCAL_PASSWORDS_FOR_STAFF:
        raise forms.ValidationError(STAFF_NEED_SSO, code="staff_need_sso")


class LoginForm(AuthenticationForm):
    """The portal's sign-in form."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        refuse_staff_password(user)


class AdminLoginForm(AdminAuthenticationForm):
    """Admin's sign-in form."""

    def confirm_login_allowed(self, user):
        refuse_staff_password(user)
        super().confirm_login_allowed(user)


class TokenForm(forms.Form):
    """A six-digit code from the authenticator app."""

    token = forms.CharField(
        label=_("Code from your authenticator app"),
        min_length=6,
        max_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
        ),
    )

    def __init__(self, *args, device=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_token(self):
        token = self.cleaned_data["token"].strip()
        if not token.isdigit():
            raise forms.ValidationError(_("Enter the six digits of the code."), code="digits")
        if self.device is not None and not self.device.verify_is_allowed()[0]:
            raise forms.ValidationError(
                _("Too many wrong codes. Wait a little, then enter the current code."),
                code="throttled",
            )
        if self.device is None or not self.device.verify_token(token):
            raise forms.ValidationError(
                _("That code is wrong or has expired. Enter the current code."), code="wrong"
            )
        return token
