"""The lead's timeline: leads' entries (activities, status changes, notes, emails) and crm's
deliveries, in time order. It lives in the shell because the shell may read both apps
(leads never imports crm); the lead page loads it with htmx, and it is a page of its own
without JavaScript.

One query per kind, each limited to the page's length, so the page costs the same number
of queries for a lead with three entries or three thousand; "Show more" asks for a longer
page (up to MAX_LIMIT).
"""

from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm import selectors as crm_selectors
from leads.lifecycle import selectors as lead_selectors
from leads.work.timeline import TimelineEntry, lead_timeline_entries, timeline_page
from portal.tenancy.decorators import found_or_404, publisher_required

PAGE_LENGTH = 30
MAX_LIMIT = 600


def _limit(request) -> int:
    try:
        limit = int(request.GET.get("limit", PAGE_LENGTH))
    except ValueError:
        return PAGE_LENGTH
    return min(max(limit, PAGE_LENGTH), MAX_LIMIT)


def _delivery_entry(delivery) -> TimelineEntry:
    target = (
        _("Microsoft field seller") if delivery.target.is_field_seller else delivery.target.name
    )
    title = _("CRM delivery to %(target)s: %(status)s") % {
        "target": target,
        "status": delivery.get_status_display().lower(),
    }
    return TimelineEntry(delivery.created_at, "delivery", title, delivery.get_event_display())


@publisher_required
@require_GET
def lead_timeline(request, lead_id):
    """The newest entries of the lead's timeline, with "Show more"."""
    found = lead_selectors.leads_by_uuid_for_publisher(
        publisher=request.publisher, lead_uuids=[lead_id]
    )
    lead = found_or_404(found[0] if found else None, _("No such lead."))
    limit = _limit(request)
    entries = lead_timeline_entries(lead=lead, limit=limit + 1)
    entries += [
        _delivery_entry(row) for row in crm_selectors.deliveries_of_lead(lead=lead, limit=limit + 1)
    ]
    page, has_more = timeline_page(entries, limit=limit)
    context = {
        "lead": lead,
        "entries": page,
        "next_limit": min(limit + PAGE_LENGTH, MAX_LIMIT)
        if has_more and limit < MAX_LIMIT
        else None,
    }
    template = "portal/lead_timeline.html"
    if request.headers.get("HX-Request"):
        template += "#timeline"
    return render(request, template, context)
