"""The owner's privacy requests: find a person, export them, erase them; the access log.

Everything is scoped to the current publisher: another publisher's person is not found.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from portal.tenancy.decorators import owner_required
from privacy import selectors, services
from privacy.commands import export_json
from privacy.forms import AccessLogFilterForm, PersonEraseForm, PersonFindForm
from privacy.models import AccessLogEntry

SOURCE = AccessLogEntry.Source.PORTAL
PAGE_SIZE = 50


def person_context(records: selectors.PersonRecords) -> dict:
    """What the find and erase pages show of a person (shared with the admin's pages)."""
    return {
        "records": records,
        "counts": records.counts(),
        "recipients": selectors.recipients_for(lead_ids=records.lead_ids),
        "activities": [row for rows in records.rows["activities"].values() for row in rows],
        "email_sends": [row for rows in records.rows["email_sends"].values() for row in rows],
        "deliveries": [row for rows in records.rows["deliveries"].values() for row in rows],
        "referrals": [row for rows in records.rows["referrals"].values() for row in rows],
        "inbound_items": [
            *(row for rows in records.rows["inbound_items"].values() for row in rows),
            *records.unlinked_inbound,
        ],
    }


@owner_required
@require_http_methods(["GET"])
def privacy_find(request: HttpRequest) -> HttpResponse:
    form = PersonFindForm(request.GET or None)
    context: dict = {"form": form}
    if form.is_valid():
        email = form.cleaned_data["email"]
        records = selectors.person_records(email=email, publisher=request.publisher)
        services.person_access_record(
            records=records, user=request.user, source=SOURCE, action=AccessLogEntry.Action.FIND
        )
        context |= person_context(records)
        context["erasures"] = selectors.erasures_for_address(
            email=email, publisher=request.publisher
        )
    return render(request, "privacy/find.html", context, status=400 if form.errors else 200)


@owner_required
@require_POST
def privacy_export(request: HttpRequest) -> HttpResponse:
    form = PersonFindForm(request.POST)
    if not form.is_valid():
        return render(request, "privacy/find.html", {"form": form}, status=400)
    records = selectors.person_records(
        email=form.cleaned_data["email"], publisher=request.publisher
    )
    if records.is_empty:
        messages.error(request, _("Nothing is stored about this address."))
        return redirect("privacy")
    services.person_access_record(
        records=records, user=request.user, source=SOURCE, action=AccessLogEntry.Action.EXPORT
    )
    response = HttpResponse(
        export_json(selectors.person_export(records=records)), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="person-export.json"'
    response["Cache-Control"] = "no-store"
    return response


@owner_required
@require_http_methods(["GET", "POST"])
def privacy_erase(request: HttpRequest) -> HttpResponse:
    """GET: the confirmation page (what will go, who will be told); POST: erase."""
    data = request.POST if request.method == "POST" else None
    initial = {"email": request.GET.get("email", "")}
    form = PersonEraseForm(data, initial=initial)
    email = (request.POST if data else request.GET).get("email", "")
    find = PersonFindForm({"email": email})
    if not find.is_valid():
        return render(request, "privacy/find.html", {"form": find}, status=400)
    records = selectors.person_records(
        email=find.cleaned_data["email"], publisher=request.publisher
    )
    if data is not None and form.is_valid():
        report = services.person_erase(
            email=form.cleaned_data["email"],
            publisher=request.publisher,
            actor=request.user,
            reason=form.cleaned_data["reason"],
            source=SOURCE,
        )
        if report.is_noop:
            messages.info(request, _("Nothing was left to erase for this address."))
        else:
            messages.success(
                request,
                _("Erased: %(leads)s lead(s); %(told)s CRM target(s) will be told.")
                % {"leads": len(report.lead_ids), "told": len(report.recipients)},
            )
        return redirect("privacy")
    context = {"form": form, "email": email, **person_context(records)}
    return render(request, "privacy/erase.html", context, status=400 if form.errors else 200)


@owner_required
@require_http_methods(["GET"])
def access_log(request: HttpRequest) -> HttpResponse:
    form = AccessLogFilterForm(request.GET or None)
    entries = selectors.access_log_for_publisher(publisher=request.publisher)
    if form.is_valid():
        if form.cleaned_data["action"]:
            entries = entries.filter(action=form.cleaned_data["action"])
        sort = form.cleaned_data["sort"] or "newest"
        entries = entries.order_by(*AccessLogFilterForm.SORTS[sort])
    page = Paginator(entries.select_related(None), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "privacy/access_log.html", context)
