"""Lead pages: the list, export, import, detail and Co-Sell referrals.

Views stay thin: reads go through `leads.lifecycle.selectors` (each scoped by the current
publisher), writes through `leads.lifecycle.services.lead_transition` and `csv_import.leads_import`.
"""

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods

from leads.consent.policy import consent_stated
from leads.consent.selectors import consent_evidence_for_lead
from leads.forms import (
    PAGE_SIZES,
    BulkStatusForm,
    LeadFilterForm,
    LeadImportForm,
    LeadTransitionForm,
    SavedViewForm,
    SelectedLeadsField,
)
from leads.intake import csv_import
from leads.intake.referrals import CO_SELL_ACTION
from leads.lifecycle import columns as lead_columns
from leads.lifecycle import selectors as lead_selectors
from leads.lifecycle import services as lifecycle_services
from leads.lifecycle.csv_export import CRM, EXCEL, csv_lines, export_rows
from leads.lifecycle.selectors import SORT_DEFAULT_DESCENDING
from leads.models import LeadActivity, LeadOrigin, LeadStatus
from leads.nurture.selectors import nurture_refusal_for_lead
from leads.referrals import selectors as referral_selectors
from leads.saved_views import selectors as saved_view_selectors
from leads.views.lead_rows import lead_rows_html
from leads.work import services as work_services
from leads.work.forms import BulkAssignForm
from leads.work.page import work_context
from leads.work.selectors import member_choices
from portal.tenancy.decorators import found_or_404, publisher_required

PAGE_SIZE = 50  # the default of PAGE_SIZES
EXPORT_CHUNK_SIZE = 2000


def _start(request, page) -> int:
    """The 1-based position of the page's first row, carried in the links (no COUNT)."""
    if page.previous_cursor is None:
        return 1
    try:
        return max(1, int(request.GET.get("start", "1")))
    except ValueError:
        return 1


def total_text(total: lead_selectors.LeadCount) -> str:
    """ "12,408", or an estimate said as one: "about 1.2 million", "about 46,000"."""
    if not total.is_estimate:
        return number_format(total.value, force_grouping=True)
    if total.value >= 1_000_000:
        millions = number_format(round(total.value / 1_000_000, 1), decimal_pos=1)
        return _("about %(millions)s million") % {"millions": millions}
    rounded = round(total.value, 2 - len(str(total.value)))  # two significant figures
    return _("about %(count)s") % {"count": number_format(rounded, force_grouping=True)}


def _sort_columns(current) -> dict[str, dict]:
    """Per sortable column: the sort its header link asks for (the other direction when it
    is the current one) and its aria-sort state."""
    columns = {}
    for name, descending in SORT_DEFAULT_DESCENDING.items():
        state = None
        if current.name == name:
            state = "descending" if current.descending else "ascending"
            descending = not current.descending
        columns[name] = {"param": f"{'-' if descending else ''}{name}", "state": state}
    return columns


def _sort_for(form: LeadFilterForm, *, origin: str):
    """The form's sort; on the marketplace list, a referral sort is the default one."""
    sort = form.sort_choice()
    if origin != LeadOrigin.CO_SELL and sort.name in lead_selectors.REFERRAL_SORT_NAMES:
        return lead_selectors.LEAD_SORTS[lead_selectors.DEFAULT_SORT]
    return sort


def _list_context(request, *, origin: str, bulk_form=None, assign_form=None) -> dict:
    # One read of the members, for the owner filter and the bulk assign.
    members = member_choices(publisher=request.publisher)
    form = LeadFilterForm(request.GET, publisher=request.publisher, members=members)
    sort = _sort_for(form, origin=origin)
    size = form.page_size() or PAGE_SIZE
    filters = lead_selectors.with_search_listings(
        publisher=request.publisher, filters=form.filters(origin=origin)
    )
    before = request.GET.get("before", "")
    page = lead_selectors.lead_page(
        publisher=request.publisher,
        filters=filters,
        sort=sort,
        cursor=before or request.GET.get("after", ""),
        backwards=bool(before),
        size=size,
    )
    total = lead_selectors.lead_count(publisher=request.publisher, filters=filters)
    chosen = form.chosen_columns()
    shown = lead_columns.columns_shown(origin, chosen)
    latest = lead_selectors.latest_activities(leads=page.leads) if page.leads else {}
    referrals = (
        referral_selectors.latest_referrals(leads=page.leads)
        if origin == LeadOrigin.CO_SELL and page.leads
        else {}
    )
    for lead in page.leads:
        lead.latest_activity = latest.get(lead.pk)
        lead.latest_referral = referrals.get(lead.pk)
    start = _start(request, page)
    sort_columns = _sort_columns(sort)
    selected = set(bulk_form.cleaned_data.get("lead", []) if bulk_form is not None else [])
    return {
        "form": form,
        "bulk_form": bulk_form or BulkStatusForm(),
        "assign_form": assign_form or BulkAssignForm(publisher=request.publisher, members=members),
        "page": page,
        "sort": sort,
        "sort_columns": sort_columns,
        "start": start,
        "end": start + len(page.leads) - 1,
        "next_start": start + len(page.leads),
        "previous_start": max(1, start - size),
        "total": total,
        "total_text": total_text(total),
        "page_size": size,
        "page_sizes": PAGE_SIZES,
        "columns": shown,
        "lead_rows": lead_rows_html(leads=page.leads, columns=shown, selected=selected),
        "headers": [{"column": c, "sort": sort_columns.get(c.sort)} for c in shown],
        "column_choices": [
            {"column": column, "is_shown": column in shown}
            for column in lead_columns.columns_for(origin)
        ],
        "selected": {str(lead_id) for lead_id in selected},
        "origin": origin,
        "is_co_sell": origin == LeadOrigin.CO_SELL,
        "list_url_name": "referrals" if origin == LeadOrigin.CO_SELL else "leads",
        "saved_views": []
        if origin == LeadOrigin.CO_SELL
        else list(
            saved_view_selectors.saved_views_for_user(
                publisher=request.publisher, user=request.user
            )
        ),
        "save_view_form": SavedViewForm(auto_id="save-view-%s"),
        "co_sell_program_url": settings.CO_SELL_PROGRAM_URL,
    }


def _bulk_move(request, form: BulkStatusForm) -> None:
    """Move each ticked lead of the publisher on its own; report each refusal."""
    wanted = form.cleaned_data["lead"]
    leads = lead_selectors.leads_by_uuid_for_publisher(
        publisher=request.publisher, lead_uuids=wanted
    )
    to_status = form.cleaned_data["to_status"]
    moved = 0
    for lead in leads:
        try:
            lifecycle_services.lead_transition(
                lead=lead, to_status=to_status, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(
                request, _("%(lead)s: %(error)s") % {"lead": lead, "error": " ".join(exc.messages)}
            )
        else:
            moved += 1
    if moved:
        messages.success(
            request,
            ngettext(
                "%(count)d lead moved to %(status)s.",
                "%(count)d leads moved to %(status)s.",
                moved,
            )
            % {"count": moved, "status": LeadStatus(to_status).label},
        )
    if len(leads) < len(wanted):
        missing = len(wanted) - len(leads)
        messages.warning(
            request,
            ngettext(
                "%(count)d selected lead was not found.",
                "%(count)d selected leads were not found.",
                missing,
            )
            % {"count": missing},
        )


def _bulk_assign(request) -> BulkAssignForm | None:
    """Give the ticked leads to one member; the bound form when it is refused."""
    form = BulkAssignForm(request.POST, publisher=request.publisher)
    try:
        wanted = SelectedLeadsField().clean(request.POST.getlist("lead"))
    except ValidationError as exc:
        form.is_valid()
        form.add_error(None, exc)
        return form
    if not form.is_valid():
        return form
    leads = lead_selectors.leads_by_uuid_for_publisher(
        publisher=request.publisher, lead_uuids=wanted
    )
    count = work_services.leads_assign(
        publisher=request.publisher,
        lead_ids=[lead.pk for lead in leads],
        owner_id=form.cleaned_data["owner"],
    )
    messages.success(
        request,
        ngettext("%(count)d lead assigned.", "%(count)d leads assigned.", count) % {"count": count},
    )
    return None


def _lead_table_page(request, *, origin: str, template: str):
    bulk_form = assign_form = None
    if request.method == "POST" and request.POST.get("action") == "assign":
        assign_form = _bulk_assign(request)
        if assign_form is None:
            return redirect(request.get_full_path())
    elif request.method == "POST":
        bulk_form = BulkStatusForm(request.POST)
        if bulk_form.is_valid():
            _bulk_move(request, bulk_form)
            return redirect(request.get_full_path())
    context = _list_context(request, origin=origin, bulk_form=bulk_form, assign_form=assign_form)
    if request.headers.get("HX-Request") and request.method == "GET":
        template += "#results"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@publisher_required
@require_http_methods(["GET", "POST"])
def lead_list(request):
    """The publisher's marketplace leads: filters, search, sort, keyset pages, bulk moves."""
    return _lead_table_page(request, origin=LeadOrigin.MARKETPLACE, template="leads/lead_list.html")


@publisher_required
@require_http_methods(["GET", "POST"])
def referral_list(request):
    """Co-Sell referrals, kept apart from marketplace leads (DESIGN §1)."""
    if not request.publisher.co_sell_enrolled:
        return render(
            request,
            "leads/referral_not_enrolled.html",
            {"co_sell_program_url": settings.CO_SELL_PROGRAM_URL},
        )
    return _lead_table_page(request, origin=LeadOrigin.CO_SELL, template="leads/referral_list.html")


@publisher_required
@require_GET
def lead_export(request):
    """The current filter of the list (or of the referrals, `origin=co-sell`) as a CSV stream."""
    origin = request.GET.get("origin")
    if origin != LeadOrigin.CO_SELL:
        origin = LeadOrigin.MARKETPLACE
    form = LeadFilterForm(request.GET, publisher=request.publisher)
    leads = lead_selectors.leads_for_export(
        publisher=request.publisher,
        filters=form.filters(origin=origin),
        sort=_sort_for(form, origin=origin),
    )
    # ?for=crm is raw for a CRM's importer; anything else is the formula-safe Excel file.
    flavour = CRM if request.GET.get("for") == CRM else EXCEL
    response = StreamingHttpResponse(
        csv_lines(export_rows(leads, chunk_size=EXPORT_CHUNK_SIZE), flavour=flavour),
        content_type="text/csv; charset=utf-8",
    )
    kind = "referrals" if origin == LeadOrigin.CO_SELL else "leads"
    suffix = "-for-crm" if flavour == CRM else ""
    filename = f"{kind}-{request.publisher.slug}-{date.today().isoformat()}{suffix}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@publisher_required
@require_http_methods(["GET", "POST"])
def lead_import(request):
    """Upload a CSV file of leads; show what became of each row."""
    report = None
    form = LeadImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = csv_import.leads_import(
                publisher=request.publisher,
                content=upload.read(),
                atomic=form.cleaned_data["atomic"],
            )
        except csv_import.ImportRefused as exc:
            form.add_error("file", str(exc))
    context = {"form": form, "report": report}
    if report is not None:
        statuses = ("created", "consolidated", "duplicate", "error")
        if report.partner_center:  # a leads export is reconciled: some were received already
            statuses += ("received",)
        context["totals"] = {status: report.count(status) for status in statuses}
    return render(request, "leads/lead_import.html", context)


def _breakdown_rows(breakdown) -> list[dict]:
    """The score breakdown as rows of rule and points, whatever shape it was stored in."""
    if isinstance(breakdown, dict):
        return [{"rule": rule, "points": points} for rule, points in breakdown.items()]
    return [
        {"rule": item.get("rule", ""), "points": item.get("points", 0)}
        for item in breakdown or []
        if isinstance(item, dict)
    ]


_ACTION_LABELS = {
    **dict(LeadActivity.ActionCode.choices),
    CO_SELL_ACTION: gettext_lazy("Co-Sell referral from Partner Center"),
}


@publisher_required
@require_http_methods(["GET", "POST"])
def lead_detail(request, lead_id):
    """One lead: contact, score, consent, activities, lifecycle moves, history and deliveries."""
    lead = lead_selectors.lead_get_for_publisher(
        publisher=request.publisher, lead_uuid=lead_id, with_transitions=True
    )
    found_or_404(lead, _("No such lead."))
    form = LeadTransitionForm(request.POST or None, lead=lead)
    if request.method == "POST" and form.is_valid():
        try:
            lifecycle_services.lead_transition(
                lead=lead,
                to_status=form.cleaned_data["to_status"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error("to_status", exc)
        else:
            messages.success(
                request,
                _("The lead is now %(status)s.")
                % {"status": LeadStatus(form.cleaned_data["to_status"]).label},
            )
            return redirect("lead-detail", lead_id=lead.uuid)
    return lead_detail_render(request, lead, form=form)


def lead_detail_render(request, lead, *, form=None, status: int = 200, **forms):
    """The lead page, with the bound forms of a refused action (their errors shown)."""
    form = form or LeadTransitionForm(lead=lead)
    activities = list(lead.activities.all())
    for activity in activities:
        activity.action_label = _ACTION_LABELS.get(activity.action_code, "")
    breakdown = _breakdown_rows(lead.score_breakdown)
    is_co_sell = lead.origin == LeadOrigin.CO_SELL
    consent = None if is_co_sell else consent_evidence_for_lead(lead=lead)
    context = {
        **work_context(request, lead, forms),
        "lead": lead,
        "form": form,
        "is_co_sell": is_co_sell,
        # Co-Sell referrals are never nurtured: they have no consent evidence to show.
        "consent": consent,
        "nurture_refusal": None
        if is_co_sell
        else nurture_refusal_for_lead(lead=lead, activities=activities, records=consent.records),
        "consent_stated": consent_stated(lead),
        "breakdown": breakdown,
        "breakdown_total": sum(row["points"] for row in breakdown),
        "activities": activities,
        "transitions": lead.transitions.all(),
        "deliveries": lead.deliveries.all(),
        "referrals": referral_selectors.referrals_of_lead(lead=lead)
        if lead.origin == LeadOrigin.CO_SELL
        else [],
        "redeliverable": {"delivered", "failed"},
    }
    return render(request, "leads/lead_detail.html", context, status=status)
