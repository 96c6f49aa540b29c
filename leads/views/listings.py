"""Listing pages: list, create, edit, lead management and publishing.

Roles: members see listings; only owners create, edit, switch lead
management, publish or unpublish. A listing id of another publisher answers 404.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from leads.catalog import selectors
from leads.catalog import services as catalog_services
from leads.catalog.forms import CONSENT_FIELDS, ListingFilterForm, ListingForm
from leads.consent.policy import listing_policy_summary
from leads.models import Listing
from portal.tenancy.decorators import found_or_404, owner_required, publisher_required

# Where each publish blocker's fix lives: the lead-management switch is on this very page.
FIX_ANCHORS = {"listing-detail": "#lead-management"}


@publisher_required
def listing_list(request: HttpRequest) -> HttpResponse:
    """The publisher's listings, filtered and sorted."""
    filter_form = ListingFilterForm(request.GET or None, auto_id="filter_%s")
    listings = filter_form.apply(selectors.listings_for_publisher(publisher=request.publisher))
    return render(
        request, "leads/listing_list.html", {"listings": listings, "filter_form": filter_form}
    )


@owner_required
@require_http_methods(["GET", "POST"])
def listing_create(request: HttpRequest) -> HttpResponse:
    """A new draft listing; the owner then enables lead management and publishes it."""
    form = ListingForm(request.POST or None, instance=Listing(publisher=request.publisher))
    if request.method == "POST" and form.is_valid():
        listing = catalog_services.listing_create(publisher=request.publisher, **form.cleaned_data)
        messages.success(
            request,
            _("%(name)s was created as a draft. Enable lead management, then publish it.")
            % {"name": listing.name},
        )
        return redirect("listing-detail", listing_id=listing.pk)
    return render(request, "leads/listing_form.html", {"form": form})


def _listing_or_404(request: HttpRequest, listing_id: int) -> Listing:
    listing = selectors.listing_get_for_publisher(
        publisher=request.publisher, listing_id=listing_id
    )
    return found_or_404(listing, _("No such listing."))


def _blockers_with_links(listing: Listing) -> list[dict]:
    """The publish gate's reasons, each with the URL of the page that fixes it."""
    blockers = []
    for blocker in selectors.listing_publish_blockers(listing=listing):
        if blocker.fix == "listing-detail":
            url = reverse("listing-detail", kwargs={"listing_id": listing.pk})
        else:
            url = reverse(blocker.fix)
        blockers.append(
            {
                "code": blocker.code,
                "message": blocker.message,
                "url": url + FIX_ANCHORS.get(blocker.fix, ""),
            }
        )
    return blockers


@publisher_required
@require_http_methods(["GET", "POST"])
def listing_detail(request: HttpRequest, listing_id: int) -> HttpResponse:
    """A listing: its settings, lead management and publishing. Owners post actions."""
    listing = _listing_or_404(request, listing_id)
    form = ListingForm(instance=listing)
    publish_refused = False
    if request.method == "POST":
        if not request.membership.is_owner:
            raise PermissionDenied(_("Only the publisher's owners can do this."))
        action = request.POST.get("action", "")
        if action == "save":
            form = ListingForm(request.POST, instance=listing)
            if form.is_valid():
                catalog_services.listing_update(listing=listing, **_editable(form.cleaned_data))
                messages.success(request, _("Saved."))
                return redirect("listing-detail", listing_id=listing.pk)
            listing = _listing_or_404(request, listing_id)  # undo the form's in-memory edits
        elif action in ACTIONS:
            response = ACTIONS[action](request, listing)
            if response is not None:
                return response
            publish_refused = True
        else:
            raise Http404(_("No such action."))
    context = {
        "listing": listing,
        "form": form,
        "blockers": [] if listing.is_published else _blockers_with_links(listing),
        "publish_refused": publish_refused,
        "consent_policy": listing_policy_summary(listing),
    }
    return render(request, "leads/listing_detail.html", context)


def _editable(cleaned_data: dict) -> dict:
    return {
        name: cleaned_data[name] for name in ("listing_type", "name", "offer_id", *CONSENT_FIELDS)
    }


def _set_lead_management(request: HttpRequest, listing: Listing, *, enabled: bool):
    try:
        catalog_services.listing_set_lead_management(listing=listing, enabled=enabled)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("Lead management is enabled: leads of this listing reach you.")
            if enabled
            else _("Lead management is off."),
        )
    return redirect(
        reverse("listing-detail", kwargs={"listing_id": listing.pk}) + "#lead-management"
    )


def _publish(request: HttpRequest, listing: Listing):
    try:
        catalog_services.listing_publish(listing=listing)
    except catalog_services.ListingPublishRefused:
        return None  # the page shows every reason, each with its fix
    messages.success(request, _("%(name)s is published.") % {"name": listing.name})
    return redirect("listing-detail", listing_id=listing.pk)


def _unpublish(request: HttpRequest, listing: Listing):
    catalog_services.listing_unpublish(listing=listing)
    messages.success(
        request, _("%(name)s is unpublished. Its leads stay.") % {"name": listing.name}
    )
    return redirect("listing-detail", listing_id=listing.pk)


ACTIONS = {
    "lead_management_on": lambda request, listing: _set_lead_management(
        request, listing, enabled=True
    ),
    "lead_management_off": lambda request, listing: _set_lead_management(
        request, listing, enabled=False
    ),
    "publish": _publish,
    "unpublish": _unpublish,
}
