"""Portal pages of a publisher's Partner Center Azure Table sources.

Roles: members see the sources, their reading and their items; only owners add or change
a source, pause, resume or read it now, and retry its rejects. Every source and item is
looked up within the current publisher, so another publisher's id answers 404 to every
role, exactly like an id that does not exist.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from inbound import receive, table_selectors, table_sources
from inbound.models import InboundItem
from inbound.table_forms import ItemFilterForm, TableSourceForm
from portal.tenancy.decorators import owner_required, publisher_required

ITEMS_PER_PAGE = 25


def _source_or_404(request: HttpRequest, source_id: int, *, for_owner: bool = False):
    """The current publisher's source, else 404; then, for a write, 403 unless an owner."""
    source = table_selectors.table_source_get_for_publisher(
        publisher=request.publisher, source_id=source_id
    )
    if source is None:
        raise Http404(_("No such Azure Table source."))
    if for_owner and not request.membership.is_owner:
        raise PermissionDenied(_("Only the publisher's owners can do this."))
    return source


@publisher_required
def table_source_list(request: HttpRequest) -> HttpResponse:
    """The publisher's Azure Table sources and how their reading goes."""
    sources = table_selectors.table_sources_for_publisher(publisher=request.publisher)
    return render(request, "inbound/table_list.html", {"sources": sources})


@owner_required
@require_http_methods(["GET", "POST"])
def table_source_create(request: HttpRequest) -> HttpResponse:
    form = TableSourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = table_sources.table_source_create(
            publisher=request.publisher,
            connection_string=form.cleaned_data["connection_string"],
            table_name=form.cleaned_data["table_name"],
            read_from=form.read_from,
        )
        table_sources.table_source_read_now(source=source)
        messages.success(request, _("The table is added. Its first read starts now."))
        return redirect("inbound-table-detail", source_id=source.pk)
    return render(request, "inbound/table_form.html", {"form": form})


@publisher_required
@require_http_methods(["GET", "POST"])
def table_source_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    """A source: its reading, its settings (owners change them) and its items."""
    source = _source_or_404(request, source_id, for_owner=request.method == "POST")
    form = None
    if request.membership.is_owner:
        form = TableSourceForm(request.POST or None, source=source)
    if request.method == "POST" and form.is_valid():
        table_sources.table_source_update(
            source=source,
            connection_string=form.cleaned_data["connection_string"],
            table_name=form.cleaned_data["table_name"],
            read_from=form.read_from,
        )
        messages.success(request, _("Saved."))
        return redirect("inbound-table-detail", source_id=source.pk)
    filter_form = ItemFilterForm(request.GET or None, auto_id="filter_%s")
    items = table_selectors.table_source_items(source=source, **filter_form.filters)
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "source": source,
        "health": table_selectors.table_source_health(source=source),
        "form": form,
        "filter_form": filter_form,
        "page": page,
        "page_query": query.urlencode(),
    }
    return render(request, "inbound/table_detail.html", context)


def _pause(source) -> tuple[int, str]:
    table_sources.table_source_pause(source=source)
    return messages.SUCCESS, _("Paused. Nothing is read until you resume.")


def _resume(source) -> tuple[int, str]:
    table_sources.table_source_resume(source=source)
    return messages.SUCCESS, _("Resumed. What was written meanwhile is read next.")


def _read_now(source) -> tuple[int, str]:
    if source.paused:
        return messages.INFO, _("The source is paused: resume it to read it.")
    table_sources.table_source_read_now(source=source)
    return messages.SUCCESS, _("A read is on its way. Reload the page in a moment.")


def _retry_rejects(source) -> tuple[int, str]:
    """Process the source's rejects again (after a listing was added, for example)."""
    rejects = InboundItem.objects.filter(source=source, status=InboundItem.Status.REJECTED)
    return _retried(receive.inbound_items_retry(items=rejects))


# The owner's actions on a source (table_urls names each): (message level, message).
SOURCE_ACTIONS = {
    "pause": _pause,
    "resume": _resume,
    "read": _read_now,
    "retry": _retry_rejects,
}


@publisher_required
@require_POST
def table_source_act(request: HttpRequest, source_id: int, action: str) -> HttpResponse:
    """One of SOURCE_ACTIONS on the source, then back to its page with how it went."""
    source = _source_or_404(request, source_id, for_owner=True)
    messages.add_message(request, *SOURCE_ACTIONS[action](source))
    return redirect("inbound-table-detail", source_id=source.pk)


@publisher_required
@require_POST
def table_item_retry(request: HttpRequest, source_id: int, item_id: int) -> HttpResponse:
    source = _source_or_404(request, source_id, for_owner=True)
    item = table_selectors.table_source_item_get(source=source, item_id=item_id)
    if item is None:
        raise Http404(_("No such item."))
    count = receive.inbound_items_retry(items=InboundItem.objects.filter(pk=item.pk))
    messages.add_message(request, *_retried(count))
    return redirect("inbound-table-detail", source_id=source.pk)


def _retried(count: int) -> tuple[int, str]:
    if not count:
        return messages.INFO, _("Nothing to retry.")
    message = ngettext(
        "%(count)d item is processed again.", "%(count)d items are processed again.", count
    )
    return messages.SUCCESS, message % {"count": count}
