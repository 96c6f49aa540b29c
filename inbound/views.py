"""The listing page's Inbound panel: the Partner Center URL, its state, counts and rejects.

The listing page (leads) loads this panel with htmx; without JavaScript, its link opens
the same panel as a page. Members read it; only owners create, rotate or revoke the URL
and retry rejects. A listing or an item of another publisher answers 404.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from inbound import receive, selectors, sources
from inbound.models import InboundSource
from leads.catalog import selectors as catalog_selectors
from leads.models import Listing
from portal.once import once_keep, once_pop
from portal.tenancy.decorators import owner_required, publisher_required

URL_ONCE_KEY = "inbound_url_once"


def _listing_or_404(request: HttpRequest, listing_id: int) -> Listing:
    listing = catalog_selectors.listing_get_for_publisher(
        publisher=request.publisher, listing_id=listing_id
    )
    if listing is None:
        raise Http404(_("No such listing."))
    return listing


def _source_or_404(request: HttpRequest, listing_id: int) -> tuple[Listing, InboundSource]:
    listing = _listing_or_404(request, listing_id)
    source = selectors.webhook_source_for_listing(listing=listing)
    if source is None:
        raise Http404(_("This listing has no inbound URL."))
    return listing, source


def _listing_lookup(request: HttpRequest, listing_id: int, **_kwargs) -> Listing | None:
    return catalog_selectors.listing_get_for_publisher(
        publisher=request.publisher, listing_id=listing_id
    )


def _back_to_panel(listing: Listing) -> HttpResponse:
    return redirect(reverse("listing-detail", kwargs={"listing_id": listing.pk}) + "#inbound")


def _show_once(request: HttpRequest, listing: Listing, token: str) -> None:
    url = sources.inbound_url_absolute(token)
    once_keep(request, key=URL_ONCE_KEY, object_id=listing.pk, value=url)


def _pop_url(request: HttpRequest, listing: Listing) -> str:
    return once_pop(request, key=URL_ONCE_KEY, object_id=listing.pk)


@publisher_required
@require_GET
def listing_inbound(request: HttpRequest, listing_id: int) -> HttpResponse:
    """The panel; htmx gets the fragment (or, polling, its status part), a browser a page."""
    listing = _listing_or_404(request, listing_id)
    panel = selectors.inbound_panel(listing=listing, page=request.GET.get("page"))
    is_htmx = request.headers.get("HX-Request") == "true"
    template = "inbound/panel.html"
    if is_htmx and request.GET.get("part") == "status":
        template += "#inbound-status"
    elif is_htmx:
        template += "#inbound-panel"
    context = {
        "listing": listing,
        "panel": panel,
        "new_url": "" if "part" in request.GET else _pop_url(request, listing),
        "states": sources.UrlState,
    }
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@owner_required(lookup=_listing_lookup)
@require_POST
def listing_inbound_create(request: HttpRequest, listing_id: int) -> HttpResponse:
    """A new inbound URL (a live one is rotated), shown once on the panel."""
    listing = _listing_or_404(request, listing_id)
    _source, token = sources.inbound_url_create(listing=listing)
    _show_once(request, listing, token)
    return _back_to_panel(listing)


@owner_required(lookup=_listing_lookup)
@require_POST
def listing_inbound_rotate(request: HttpRequest, listing_id: int) -> HttpResponse:
    listing, source = _source_or_404(request, listing_id)
    _source, token = sources.inbound_url_rotate(source=source)
    _show_once(request, listing, token)
    return _back_to_panel(listing)


@owner_required(lookup=_listing_lookup)
@require_POST
def listing_inbound_revoke(request: HttpRequest, listing_id: int) -> HttpResponse:
    listing, source = _source_or_404(request, listing_id)
    sources.inbound_url_revoke(source=source)
    messages.success(request, _("The inbound URL is revoked: Partner Center's posts to it fail."))
    return _back_to_panel(listing)


@owner_required(lookup=_listing_lookup)
@require_POST
def listing_inbound_retry(request: HttpRequest, listing_id: int, item_id: int) -> HttpResponse:
    """Process a rejected or waiting item again."""
    listing = _listing_or_404(request, listing_id)
    item = selectors.inbound_item_get_for_publisher(publisher=request.publisher, item_id=item_id)
    if item is None or item.source.listing_id != listing.pk:
        raise Http404(_("No such inbound item."))
    items = selectors.rejects_for_source(source=item.source).filter(pk=item.pk)
    if receive.inbound_items_retry(items=items):
        messages.success(request, _("The item is queued to be processed again."))
    return _back_to_panel(listing)
