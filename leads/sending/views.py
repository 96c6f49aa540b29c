"""The sending identity page: the From address, the DNS records to publish, "Check DNS",
and the publisher's bounce and complaint rates (docs/email.md)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from leads.sending import dns_check, selectors, services
from leads.sending.forms import SendingIdentityForm
from leads.sending.selectors import SPAM_RATE_LIMIT
from portal.tenancy.decorators import owner_required, owner_required_to_post


def _render(request: HttpRequest, *, form=None) -> HttpResponse:
    publisher = request.publisher
    identity = selectors.identity_for_publisher(publisher=publisher)
    records = []
    if identity is not None:
        for record in services.identity_records(identity):
            result = identity.check_results.get(record.key)
            records.append(
                {
                    "record": record,
                    "result": result,
                    "sentence": dns_check.result_sentence(record.key, result) if result else "",
                }
            )
    if form is None:
        form = SendingIdentityForm(initial={"from_email": identity.from_email if identity else ""})
    rates = selectors.sending_rates(publisher=publisher, now=timezone.now())
    context = {
        "publisher": publisher,
        "identity": identity,
        "records": records,
        "form": form,
        "is_owner": request.membership.is_owner,
        "rates": rates,
        "bounce_percent": number_format(rates.bounce_rate * 100, 2),
        "complaint_percent": number_format(rates.complaint_rate * 100, 2),
        "spam_limit_percent": number_format(SPAM_RATE_LIMIT * 100, 1),
    }
    return render(request, "leads/sending_identity.html", context)


@never_cache
@owner_required_to_post
def sending_identity(request: HttpRequest) -> HttpResponse:
    """The identity page; a POST (owners only) sets the From address."""
    if request.method == "GET":
        return _render(request)
    form = SendingIdentityForm(request.POST)
    if not form.is_valid():
        # The form again with the error next to the field, as the settings page does.
        return _render(request, form=form)
    services.identity_save(publisher=request.publisher, from_email=form.cleaned_data["from_email"])
    messages.success(
        request,
        _("The From address is saved. Publish the DNS records below, then press Check DNS."),
    )
    return redirect("settings-sending")


@never_cache
@owner_required
@require_POST
def sending_identity_check(request: HttpRequest) -> HttpResponse:
    """Check the identity's DNS records now (a few seconds at most) and show the outcome."""
    identity = selectors.identity_for_publisher(publisher=request.publisher)
    if identity is None:
        messages.error(request, _("Set a From address first."))
        return redirect("settings-sending")
    identity = services.identity_check(identity=identity)
    if identity.is_verified:
        messages.success(
            request,
            _("The DNS records are right: nurture email now goes out from %(address)s.")
            % {"address": identity.from_email},
        )
    else:
        messages.error(
            request,
            _(
                "Some DNS records are not right yet; see each record below. Nurture email "
                "keeps the portal's address until they are."
            ),
        )
    return redirect("settings-sending")
