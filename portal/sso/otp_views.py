"""TOTP two-factor for staff (django-otp): enrol an authenticator app, then give a code.

Staff only: a publisher's user gets 404 here. The QR code is an SVG served by its own URL
(an <img>), so the page needs no inline script or style under the CSP.
"""

import base64
import io
from urllib.parse import urlencode

import segno
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.sso.forms import TokenForm


def _staff(request) -> None:
    if not request.user.is_staff:
        raise Http404


def _next_url(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("admin:index")


def _confirmed(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def _pending(user, *, create: bool):
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None and create:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


@never_cache
@login_required
def setup(request):
    """Enrol: scan the QR code (or type the key), then confirm with a first code."""
    _staff(request)
    if _confirmed(request.user) is not None:
        return render(request, "sso/otp_setup.html", {"enrolled": True})
    device = _pending(request.user, create=True)
    form = TokenForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        otp_login(request, device)
        return redirect(_next_url(request))
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "sso/otp_setup.html",
        {"form": form, "secret": secret, "next": _next_url(request)},
        status=422 if request.method == "POST" else 200,
    )


@never_cache
@login_required
def qr_code(request):
    """The pending device's otpauth:// URL as an SVG QR code."""
    _staff(request)
    device = _pending(request.user, create=False)
    if device is None:
        raise Http404
    svg = io.BytesIO()
    segno.make(device.config_url, error="m").save(svg, kind="svg", scale=5, border=2)
    return HttpResponse(svg.getvalue(), content_type="image/svg+xml")


@never_cache
@login_required
def verify(request):
    """A code from the enrolled app, once per session, before admin opens."""
    _staff(request)
    device = _confirmed(request.user)
    if device is None:
        return redirect(f"{reverse('otp-setup')}?{urlencode({'next': _next_url(request)})}")
    form = TokenForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        otp_login(request, device)
        return redirect(_next_url(request))
    return render(
        request,
        "sso/otp_verify.html",
        {"form": form, "next": _next_url(request)},
        status=422 if request.method == "POST" else 200,
    )
