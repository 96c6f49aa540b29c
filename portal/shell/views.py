"""The portal shell: the dashboard, the publisher switcher and the settings pages.

The full portal (listings, leads, CRM targets, campaigns) lives in each app's views;
this module only frames it. It composes the apps' reads (portal.shell.dashboard,
leads.selectors, crm.selectors); tenancy never imports leads or crm.
"""

import logging
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from crm.referrals import selectors as referral_connections
from leads.catalog import selectors as catalog_selectors
from leads.intake import api_keys
from leads.intake import selectors as intake_selectors
from leads.notifications import services as notification_services
from leads.notifications.forms import NotificationPreferenceForm
from portal import throttling
from portal.shell import dashboard
from portal.shell.forms import (
    ApiTokenCreateForm,
    MemberInviteForm,
    MemberRoleForm,
    PublisherContactForm,
    RetentionForm,
)
from portal.shell.notification_views import notification_form
from portal.tenancy import middleware, selectors, services
from portal.tenancy.decorators import owner_required, owner_required_to_post, publisher_required
from portal.tenancy.models import Membership
from privacy.retention import selectors as retention_selectors

logger = logging.getLogger(__name__)

# The dashboard's listings card is a summary; /listings/ has them all.
LISTINGS_SHOWN = 6


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard of the current publisher, or a hint for a user without one.

    The figures come from `portal.shell.dashboard` in a fixed number of queries; see there
    what is rolled up and what is live.
    """
    membership = request.membership
    if not membership:
        return render(request, "portal/no_publisher.html")
    publisher = membership.publisher
    today = timezone.localdate()
    daily = dashboard.daily_rows(publisher=publisher, today=today)
    rows = daily.rows
    listings = list(catalog_selectors.listings_for_publisher(publisher=publisher))
    context = {
        "publisher": publisher,
        "kpis": dashboard.kpis(rows, today=today),
        "per_day": dashboard.leads_per_day(rows, today=today),
        "by_action": dashboard.leads_by_action(rows),
        "funnel": dashboard.funnel(publisher=publisher),
        "campaigns": dashboard.campaign_progress(publisher=publisher),
        "health": dashboard.delivery_health(publisher=publisher),
        "window_days": dashboard.WINDOW_DAYS,
        "figures_pending": daily.pending,
        "live_since": daily.live_since,
        "listings": listings[:LISTINGS_SHOWN],
        "listing_count": len(listings),
        "co_sell_program_url": settings.CO_SELL_PROGRAM_URL,
    }
    context["charts"] = _chart_data(context)
    return render(request, "portal/home.html", context)


def _chart_data(context: dict) -> dict:
    """What dashboard.js draws, passed through json_script (never marked safe)."""
    funnel, campaigns, health = context["funnel"], context["campaigns"], context["health"]
    return {
        "per_day": {
            "labels": context["per_day"]["labels"],
            "datasets": context["per_day"]["datasets"],
        },
        "funnel": {
            "labels": [row["label"] for row in funnel],
            "datasets": [{"label": _("Leads"), "data": [row["count"] for row in funnel]}],
        },
        "by_action": {k: context["by_action"][k] for k in ("labels", "datasets")},
        "campaigns": {
            "labels": [row["name"] for row in campaigns],
            "datasets": [
                {"label": _("Qualified leads"), "data": [row["qualified"] for row in campaigns]},
                {"label": _("Goal"), "data": [row["goal"] for row in campaigns]},
            ],
        },
        "health": {
            "labels": [row["name"] for row in health],
            "datasets": [
                {"label": label, "key": key, "data": [row[key] for row in health]}
                for key, label in (
                    ("delivered", _("Delivered")),
                    ("pending", _("Pending")),
                    ("failed", _("Failed")),
                )
            ],
        },
    }


@login_required
@require_POST
def publisher_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's publishers the current one, for this session."""
    try:
        publisher_id = int(request.POST.get("publisher", ""))
    except ValueError:
        raise Http404("No such publisher.") from None
    membership = selectors.membership_get_for_user(user=request.user, publisher_id=publisher_id)
    if membership is None:
        # The same answer as for a publisher that does not exist: ids reveal nothing.
        raise Http404("No such publisher.")
    request.session[middleware.SESSION_KEY] = membership.publisher_id
    return redirect("home")


# --- Settings: publisher details, API tokens, members ---------------------------------------


def _settings_reads(publisher, *, is_owner: bool) -> dict:
    members = selectors.memberships_of_publisher(publisher=publisher)
    tokens = intake_selectors.publisher_tokens_active(publisher=publisher) if is_owner else []
    referral_connection = (
        referral_connections.connection_status(publisher=publisher) if is_owner else None
    )
    return {
        "members": list(members),
        "tokens": list(tokens),
        "referral_connection": referral_connection,
        "retention_form": RetentionForm.for_publisher(publisher),
        "retention_last": retention_selectors.retention_last_for_publisher(publisher=publisher),
    }


def _settings_render(request: HttpRequest, **overrides) -> HttpResponse:
    publisher = request.publisher
    is_owner = request.membership.is_owner
    context = {
        "publisher": publisher,
        "is_owner": is_owner,
        "contact_form": PublisherContactForm(instance=publisher),
        "token_form": ApiTokenCreateForm(),
        "invite_form": MemberInviteForm(),
        "roles": Membership.Role.choices,
        "new_token": None,
        "notification_form": None,
        **_settings_reads(publisher, is_owner=is_owner),
    }
    context.update(overrides)
    context["notification_form"] = context["notification_form"] or notification_form(request)
    context["owner_count"] = sum(1 for m in context["members"] if m.is_owner)
    return render(request, "portal/settings.html", context)


def _settings_redirect(anchor: str) -> HttpResponse:
    return redirect(f"{reverse('settings')}#{anchor}")


@never_cache
@owner_required_to_post
def settings_page(request: HttpRequest) -> HttpResponse:
    """The publisher's settings; a POST (owners only) saves the contact details."""
    if request.method == "GET":
        return _settings_render(request)
    # A copy: a failed validation must not change the publisher shown in the header.
    publisher = selectors.publisher_get(publisher_id=request.publisher.pk)
    form = PublisherContactForm(request.POST, instance=publisher)
    if not form.is_valid():
        return _settings_render(request, contact_form=form)
    services.publisher_settings_update(
        publisher=publisher,
        lead_contact_email=form.cleaned_data["lead_contact_email"],
        postal_address=form.cleaned_data["postal_address"],
        nurture_daily_cap=form.cleaned_data["nurture_daily_cap"],
        time_zone=form.cleaned_data["time_zone"],
        send_window=(form.cleaned_data["send_window_start"], form.cleaned_data["send_window_end"]),
    )
    messages.success(request, _("The contact details are saved."))
    return _settings_redirect("contact")


@publisher_required
@require_POST
def notifications_save(request: HttpRequest) -> HttpResponse:
    """Save the signed-in member's own new-lead email choice (any member may)."""
    form = NotificationPreferenceForm(request.POST, publisher=request.publisher)
    if form.is_valid():
        data = form.cleaned_data
        try:
            notification_services.notification_preference_save(
                membership=request.membership,
                mode=data["mode"],
                all_listings=data["scope"] == form.ALL,
                listings=list(data["listings"]),
                digest_hour=data["digest_hour"],
                time_zone=data["time_zone"],
                language=getattr(request, "LANGUAGE_CODE", ""),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Your new-lead email settings are saved."))
            return _settings_redirect("notifications")
    return _settings_render(request, notification_form=form)


@owner_required
@require_POST
def retention_save(request: HttpRequest) -> HttpResponse:
    """Save the publisher's retention: off, or months after the last activity (owners)."""
    form = RetentionForm(request.POST)
    if not form.is_valid():
        return _settings_render(request, retention_form=form)
    months = form.retention_months
    services.publisher_retention_set(
        publisher=selectors.publisher_get(publisher_id=request.publisher.pk),
        months=months,
        by=request.user,
    )
    if months is None:
        messages.success(request, _("Retention is off: leads are kept until someone erases them."))
    else:
        messages.success(
            request,
            _("Leads are now erased %(months)d months after their last activity.")
            % {"months": months},
        )
    return _settings_redirect("retention")


@never_cache
@owner_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a publisher API token and show it, this once, on the page."""
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _settings_render(request, token_form=form)
    with transaction.atomic():
        api_token, token = api_keys.publisher_token_create(
            publisher=request.publisher, name=form.cleaned_data["name"], created_by=request.user
        )
    messages.success(request, _("Token “%(name)s” created.") % {"name": api_token.name})
    # Rendered, not redirected: the plaintext is never stored, not even in the session.
    return _settings_render(request, new_token={"name": api_token.name, "token": token})


def _token_lookup(request: HttpRequest, token_id: int, **_kwargs):
    return intake_selectors.publisher_token_get_for_publisher(
        publisher=request.publisher, token_id=token_id
    )


def _membership_lookup(request: HttpRequest, membership_id: int, **_kwargs):
    return selectors.membership_get_in_publisher(
        publisher=request.publisher, membership_id=membership_id
    )


@owner_required(lookup=_token_lookup)
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the publisher's API tokens; other publishers' ids are 404."""
    api_token = intake_selectors.publisher_token_get_for_publisher(
        publisher=request.publisher, token_id=token_id
    )
    if api_token is None or api_token.revoked_at is not None:
        raise Http404(_("No such token."))
    with transaction.atomic():
        api_keys.publisher_token_revoke(api_token=api_token)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": api_token.name})
    return _settings_redirect("tokens")


@owner_required
@require_POST
def member_invite(request: HttpRequest) -> HttpResponse:
    """Invite someone by email: a new user chooses a password through the emailed link."""
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            membership, link_sent = services.member_invite(
                publisher=request.publisher,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            text = (
                _("%(email)s is invited; we emailed a link to choose a password.")
                if link_sent
                else _("%(email)s is added; we emailed them a notice.")
            )
            messages.success(request, text % {"email": membership.user.email})
            return _settings_redirect("members")
    return _settings_render(request, invite_form=form)


def _member_change(request: HttpRequest, change, success: str) -> HttpResponse:
    try:
        membership = change()
    except Membership.DoesNotExist:
        raise Http404(_("No such member.")) from None
    except services.LastOwnerError as exc:
        messages.error(request, exc.messages[0])
        return _settings_redirect("members")
    user = membership.user
    messages.success(request, success % {"user": user.email or user.get_username()})
    return _settings_redirect("members")


@owner_required(lookup=_membership_lookup)
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Make a member an owner, or an owner a member (never the last owner)."""
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose owner or member."))
        return _settings_redirect("members")
    return _member_change(
        request,
        lambda: services.membership_role_change(
            publisher=request.publisher, membership_id=membership_id, role=form.cleaned_data["role"]
        ),
        _("The role of %(user)s is saved."),
    )


@owner_required(lookup=_membership_lookup)
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Take someone out of the publisher (never the last owner)."""
    return _member_change(
        request,
        lambda: services.membership_remove(
            publisher=request.publisher, membership_id=membership_id
        ),
        _("%(user)s no longer belongs to this publisher."),
    )


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by email, with plain-text emails whose links use PORTAL_BASE_URL
    (never the request's Host header)."""

    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"

    @property
    def extra_email_context(self):
        return {"portal_base_url": settings.PORTAL_BASE_URL}

    def post(self, request, *args, **kwargs):
        """Every request counts against the address; over its limit, a 429 page."""
        window = throttling.window_hit(
            scope="password-reset-ip",
            subject=throttling.throttle_address(request) or "unknown",
            window_seconds=settings.PASSWORD_RESET_WINDOW_MINUTES * 60,
        )
        if window.count > settings.PASSWORD_RESET_IP_LIMIT:
            logger.warning("auth.password_reset.throttled", extra={"by": "address"})
            response = render(
                request,
                "registration/password_reset_throttled.html",
                {"retry_minutes": math.ceil(window.retry_after / 60)},
                status=429,
            )
            response["Retry-After"] = str(window.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        """Over the target address's limit, answer as if sent, and send nothing: the page
        never tells whether an account exists, and a mailbox cannot be flooded."""
        window = throttling.window_hit(
            scope="password-reset-email",
            subject=form.cleaned_data["email"].strip().lower(),
            window_seconds=settings.PASSWORD_RESET_WINDOW_MINUTES * 60,
        )
        if window.count > settings.PASSWORD_RESET_EMAIL_LIMIT:
            logger.warning("auth.password_reset.throttled", extra={"by": "email"})
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's set-a-new-password step. Whoever completes it has proved control of the
    account's mailbox, so the account's sign-in lock ends with it."""

    def form_valid(self, form):
        response = super().form_valid(form)
        throttling.login_lockout_reset(usernames=[form.user.get_username()])
        return response
