"""Single sign-on views: the start of the code flow, the callback, the refusal page and
the sign-out that also ends the provider's session (RP-initiated logout)."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.translation import gettext_lazy as _
from mozilla_django_oidc import views as oidc_views

from portal.auth_config import OIDC_BACKEND
from portal.sso.discovery import DiscoveryError, discovery, oidc_setting, sso_enabled

logger = logging.getLogger(__name__)

REASONS = {
    "no_access": _(
        "Your account has no access to Lead Portal. Ask an owner of your publisher to "
        "invite this email address, then sign in again."
    ),
    "unverified": _(
        "Your identity provider did not confirm that this email address is verified, so "
        "it cannot be matched to an invitation."
    ),
    "domain": _("Accounts of this email domain cannot sign in to Lead Portal."),
    "no_email": _("Your identity provider sent no email address for your account."),
    "ambiguous": _(
        "This email address matches more than one account, or an account linked to "
        "someone else. Ask Lead Portal staff to sort it out."
    ),
    "token": _("The sign-in could not be verified. Please try again."),
    "provider": _("The identity provider cannot be reached. Please try again later."),
    "cancelled": _("The sign-in was cancelled or refused by your identity provider."),
}


def refused(request, reason: str = "token"):
    """The page that says why a single sign-on was refused (403)."""
    message = REASONS.get(reason, REASONS["token"])
    return render(request, "sso/refused.html", {"message": message}, status=403)


class AuthenticateView(oidc_views.OIDCAuthenticationRequestView):
    """Redirect to the provider's authorization endpoint (read from discovery)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs):
        # The library's __init__ reads the endpoint; here it is read when a request asks.
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        if not sso_enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovery()["authorization_endpoint"]
        except DiscoveryError:
            logger.warning("sso.provider_unavailable", extra={"error": "discovery"})
            return refused(request, "provider")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        return super().get(request)


class CallbackView(oidc_views.OIDCAuthenticationCallbackView):
    """The provider's redirect back: sign in, or say why not."""

    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not sso_enabled():
            raise Http404
        try:
            return super().get(request)
        except SuspiciousOperation:
            # A state this browser never started (a replayed or forged callback).
            logger.warning("sso.refused", extra={"reason": "state"})
            return refused(request, "token")

    def login_failure(self):
        if self.request.GET.get("error"):
            return refused(self.request, "cancelled")
        return refused(self.request, getattr(self.request, "sso_refusal", "token"))


def provider_logout_url(request) -> str:
    """The provider's end_session_endpoint, back to the sign-in page afterwards; the
    sign-in page itself when the provider has none or cannot be reached."""
    back = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    try:
        endpoint = discovery().get("end_session_endpoint")
    except DiscoveryError:
        endpoint = None
    if not endpoint:
        return back
    query = urlencode({"client_id": settings.OIDC_CLIENT_ID, "post_logout_redirect_uri": back})
    return f"{endpoint}?{query}"


class LogoutView(auth_views.LogoutView):
    """Sign out; a user who signed in with SSO is sent on to sign out at the provider."""

    def post(self, request, *args, **kwargs):
        via_sso = request.session.get(auth.BACKEND_SESSION_KEY) == OIDC_BACKEND
        if not via_sso or not sso_enabled():
            return super().post(request, *args, **kwargs)
        target = provider_logout_url(request)
        auth.logout(request)
        return HttpResponseRedirect(target)
