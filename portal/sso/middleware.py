"""The staff rules at every request: with LOCAL_PASSWORDS_FOR_STAFF off, a staff session
that did not come from single sign-on ends; with OTP_REQUIRED_FOR_STAFF on, admin asks
staff on a local password for a TOTP code first (enrolling one when they have none)."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.shortcuts import redirect
from django.urls import reverse

from portal.auth_config import OIDC_BACKEND
from portal.sso.forms import STAFF_NEED_SSO


def signed_in_with_sso(request) -> bool:
    return request.session.get(auth.BACKEND_SESSION_KEY) == OIDC_BACKEND


class StaffSignInMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_staff and not signed_in_with_sso(request):
            if not settings.LOCAL_PASSWORDS_FOR_STAFF:
                auth.logout(request)
                messages.error(request, STAFF_NEED_SSO)
                return redirect("login")
            if (
                settings.OTP_REQUIRED_FOR_STAFF
                and request.path.startswith(reverse("admin:index"))
                and not request.path.startswith(reverse("admin:logout"))
                and not user.is_verified()
            ):
                return redirect(f"{reverse('otp-verify')}?{urlencode({'next': request.path})}")
        return self.get_response(request)
