"""The owner's Partner Center connection page: set it up, see its sync, pause it, sync now.

Secrets are write-only: the form never shows them back, an empty field keeps them.
"""

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.referrals import selectors, services
from crm.referrals.forms import ReferralConnectionForm
from portal.tenancy.decorators import owner_required


@owner_required
@require_http_methods(["GET", "POST"])
def connection_page(request: HttpRequest) -> HttpResponse:
    status = selectors.connection_status(publisher=request.publisher)
    connection = status.connection if status else None
    form = ReferralConnectionForm(
        request.POST or None, publisher=request.publisher, connection=connection
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            connection = services.referral_connection_save(
                publisher=request.publisher, **form.cleaned_data
            )
            services.referral_connection_sync_request(connection=connection)
        messages.success(request, _("The connection is saved; a first sync is on its way."))
        return redirect("crm-referral-connection")
    context = {"status": status, "form": form}
    return render(
        request, "crm/referral_connection.html", context, status=400 if form.errors else 200
    )


def _change(request: HttpRequest, change, message: str) -> HttpResponse:
    status = selectors.connection_status(publisher=request.publisher)
    if status is None:
        messages.error(request, _("Set up the connection first."))
        return redirect("crm-referral-connection")
    with transaction.atomic():
        change(connection=status.connection)
    messages.success(request, message)
    return redirect("crm-referral-connection")


@owner_required
@require_POST
def connection_pause(request: HttpRequest) -> HttpResponse:
    return _change(request, services.referral_connection_pause, _("The sync is paused."))


@owner_required
@require_POST
def connection_resume(request: HttpRequest) -> HttpResponse:
    return _change(request, services.referral_connection_resume, _("The sync is resumed."))


@owner_required
@require_POST
def connection_sync_now(request: HttpRequest) -> HttpResponse:
    return _change(request, services.referral_connection_sync_request, _("A sync is on its way."))
