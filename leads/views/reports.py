"""The Reports page: a period's leads per listing or per source, as a table, a chart and
a CSV file. The figures come from `leads.reporting.report`, scoped by the publisher."""

import codecs
import csv
import io

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from leads.lifecycle.csv_export import safe_cell
from leads.reporting import report as report_selectors
from leads.reporting.forms import ReportForm
from portal.tenancy.decorators import publisher_required


def duration_text(seconds: float | None) -> str:
    """A delay in days and hours, hours and minutes, or minutes; "—" for none."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


def _report(request):
    data = request.GET.copy()
    if not any(data.get(name) for name in ("period", "date_from", "date_to")):
        data["period"] = ReportForm.DEFAULT_PERIOD  # shown selected, not only applied
    form = ReportForm(data)
    if not form.is_valid() or "since" not in form.cleaned_data:
        return form, None
    data = form.cleaned_data
    return form, report_selectors.report_for_publisher(
        publisher=request.publisher, since=data["since"], until=data["until"], by=data["by"]
    )


def _chart(report) -> dict:
    rows = report.rows
    return {
        "labels": [row.label for row in rows],
        "datasets": [
            {"label": _("Leads"), "data": [row.leads for row in rows]},
            {"label": _("Qualified"), "data": [row.qualified for row in rows]},
            {"label": _("Accepted"), "data": [row.accepted for row in rows]},
            {"label": _("Won"), "data": [row.won for row in rows]},
        ],
    }


@publisher_required
@require_GET
def report_page(request):
    """The publisher's report for the chosen period; a bad period is a form error (400)."""
    form, report = _report(request)
    context = {"form": form, "report": report}
    if report is not None:
        context["chart"] = _chart(report)
        context["rows"] = [
            (row, duration_text(row.median_seconds)) for row in [*report.rows, report.total]
        ]
        context["export_query"] = request.GET.urlencode()
    return render(request, "leads/reports.html", context, status=200 if report else 400)


def csv_text(report) -> str:
    """The report as formula-safe CSV text (the lead export's Excel flavour), with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    first = _("Listing") if report.by == report_selectors.BY_LISTING else _("Source")
    writer.writerow(
        [
            first,
            _("Leads"),
            _("Qualified"),
            _("Accepted"),
            _("Won"),
            _("Qualified of leads (%)"),
            _("Accepted of qualified (%)"),
            _("Won of accepted (%)"),
            _("Median hours to first touch"),
        ]
    )
    for row in [*report.rows, report.total]:
        values = [
            row.label,
            row.leads,
            row.qualified,
            row.accepted,
            row.won,
            row.qualified_rate,
            row.accepted_rate,
            row.won_rate,
            row.median_hours,
        ]
        writer.writerow([safe_cell(value) for value in values])
    return codecs.BOM_UTF8.decode() + out.getvalue()


@publisher_required
@require_GET
def report_export(request):
    """The same report as a CSV download; a bad period is a 400 naming the fields."""
    form, report = _report(request)
    if report is None:
        errors = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(csv_text(report), content_type="text/csv; charset=utf-8")
    filename = (
        f"report-{request.publisher.slug}-{report.by}-{report.since.isoformat()}"
        f"-{report.until.isoformat()}.csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
