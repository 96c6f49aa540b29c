"""Portal pages of the crm app: CRM targets, their test lead, and the delivery log.

Roles: members see targets and deliveries; only owners create or edit
a target, send its test lead, pause or resume it, rotate its secret and redeliver.
Every object is looked up through a selector scoped by the current publisher, so an id
of another publisher answers 404, exactly like an id that does not exist.
"""

from dataclasses import dataclass

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import selectors, services, targets
from crm.delivery_rows import delivery_rows_html
from crm.models import CrmTarget, Delivery
from crm.portal_forms import DeliveryFilterForm, PortalTargetForm
from portal.once import once_keep, once_pop
from portal.tenancy.decorators import found_or_404, owner_required, publisher_required

SECRET_ONCE_KEY = "crm_signing_secret_once"


def _target_or_404(request: HttpRequest, target_id: int, *, for_owner: bool = False) -> CrmTarget:
    """The current publisher's target, else 404; then, for a write, 403 unless an owner.

    The lookup comes first, so another publisher's id answers 404 to every role.
    """
    target = selectors.target_get_for_publisher(publisher=request.publisher, target_id=target_id)
    found_or_404(target, _("No such CRM target."))
    if for_owner:
        _check_owner(request)
    return target


def _check_owner(request: HttpRequest) -> None:
    if not request.membership.is_owner:
        raise PermissionDenied(_("Only the publisher's owners can do this."))


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _show_secret_once(request: HttpRequest, target: CrmTarget, secret: str) -> None:
    once_keep(request, key=SECRET_ONCE_KEY, object_id=target.pk, value=secret)


def _pop_secret(request: HttpRequest, target: CrmTarget) -> str:
    return once_pop(request, key=SECRET_ONCE_KEY, object_id=target.pk)


def _delivery_page(
    request: HttpRequest,
    deliveries,
    *,
    show_target: bool,
    target_ids: list[int] | None = None,
) -> dict:
    """One keyset page and its rows' HTML, with the query strings of the next page and of
    the first one."""
    cursor = selectors.Cursor.decode(request.GET.get("after", ""))
    page = selectors.deliveries_page(deliveries=deliveries, after=cursor, target_ids=target_ids)
    rows = delivery_rows_html(
        request=request,
        deliveries=page.rows,
        show_target=show_target,
        is_owner=bool(request.membership and request.membership.is_owner),
    )
    query = request.GET.copy()
    query.pop("after", None)
    first_query = query.urlencode() if cursor is not None else None
    next_query = ""
    if page.next_cursor:
        query["after"] = page.next_cursor.encode()
        next_query = query.urlencode()
    return {
        "page": page,
        "delivery_rows": rows,
        "next_query": next_query,
        "first_query": first_query,
    }


@dataclass(frozen=True)
class _ShownTest:
    """A test lead as the test-result fragment shows it: waiting (the page polls
    `poll_url`), lost (no worker sent it in time), delivered or failed."""

    state: str
    status_code: int | None
    error: str
    response_excerpt: str
    poll_url: str

    @property
    def ok(self) -> bool:
        return self.state == "delivered"

    @property
    def is_waiting(self) -> bool:
        return self.state == "waiting"


def _shown_test(test: Delivery | None) -> dict:
    if test is None:
        return {"result": None}
    state = test.status
    if test.status in (Delivery.Status.PENDING, Delivery.Status.SENDING):
        age = (timezone.now() - test.created_at).total_seconds()
        state = "lost" if age > services.TEST_STALE_SECONDS else "waiting"
    shown = _ShownTest(
        state,
        test.last_status_code,
        test.last_error,
        test.response_excerpt,
        reverse("crm-target-test-result", args=[test.target_id, test.pk]),
    )
    return {"result": shown, "sent_at": test.created_at}


def _last_test(target: CrmTarget) -> dict:
    return _shown_test(selectors.target_last_test(target=target))


# --- Targets ------------------------------------------------------------------------------


@publisher_required
def target_list(request: HttpRequest) -> HttpResponse:
    """The publisher's targets, with their state and the kinds a new one may have."""
    publisher_targets = list(selectors.targets_for_publisher(publisher=request.publisher))
    return render(
        request,
        "crm/target_list.html",
        {"targets": publisher_targets, "kinds": CrmTarget.Kind.choices},
    )


@owner_required
@require_http_methods(["GET", "POST"])
def target_create(request: HttpRequest) -> HttpResponse:
    """A new target of the kind chosen in ?kind=…; without a kind, the choice of kinds."""
    kind = request.GET.get("kind", "")
    if kind not in CrmTarget.Kind.values:
        return render(request, "crm/target_kinds.html", {"kinds": CrmTarget.Kind.choices})
    publisher = request.publisher
    instance = CrmTarget(publisher=publisher, kind=kind)
    form = PortalTargetForm(request.POST or None, instance=instance, kind=kind, publisher=publisher)
    if request.method == "POST" and form.is_valid():
        target, secret = targets.target_create(
            publisher=publisher, kind=kind, **_target_fields(form)
        )
        if secret:
            _show_secret_once(request, target, secret)
        messages.success(
            request, _("%(name)s was created. Send a test lead to verify it.") % {"name": target}
        )
        return redirect("crm-target-detail", target_id=target.pk)
    return render(
        request,
        "crm/target_form.html",
        {
            "form": form,
            "kind_label": CrmTarget.Kind(kind).label,
            "demo_receiver_url": _demo_receiver_url(request, kind),
        },
    )


def _demo_receiver_url(request: HttpRequest, kind: str) -> str:
    """The first run's demo receiver (plain http, on this server) for an HTTPS target,
    when the demo is installed; the product names it by URL only, never imports it."""
    if kind != CrmTarget.Kind.HTTPS or not apps.is_installed("demo"):
        return ""
    return request.build_absolute_uri(reverse("demo-receiver"))


@publisher_required
@require_http_methods(["GET", "POST"])
def target_detail(request: HttpRequest, target_id: int) -> HttpResponse:
    """A target: its state, test lead, settings (owners edit them) and delivery log."""
    target = _target_or_404(request, target_id)
    is_owner = request.membership.is_owner
    form = None
    if is_owner:
        form = PortalTargetForm(
            request.POST if request.method == "POST" else None,
            instance=target,
            publisher=request.publisher,
        )
    if request.method == "POST":
        _check_owner(request)
        if form.is_valid():
            target = targets.target_update(target=target, **_target_fields(form))
            if target.verified_at is None:
                messages.info(request, _("Saved. Send a test lead to verify the new settings."))
            else:
                messages.success(request, _("Saved."))
            return redirect("crm-target-detail", target_id=target.pk)
        target = _target_or_404(request, target_id)  # the form changed the instance in memory
    return render(request, "crm/target_detail.html", _detail_context(request, target, form))


def _target_fields(form: PortalTargetForm) -> dict:
    """What a valid target form says, as the target services take it."""
    data = form.cleaned_data
    return {
        "name": data["name"],
        "config": form.instance.config,
        "scope": data["scope"],
        "listings": data["listings"],
        "extra_fields": data["extra_fields"],
        "erasure_mode": data.get("erasure_mode"),  # only the kinds that can delete offer it
    }


def _detail_context(request: HttpRequest, target: CrmTarget, form) -> dict:
    filter_form = DeliveryFilterForm(request.GET or None, auto_id="filter_%s")
    deliveries = selectors.deliveries_for_publisher(
        publisher=request.publisher, filters=filter_form.filters
    ).filter(target=target)
    signing_secret = target.config.get("signingSecret") if target.kind == "https" else None
    return {
        **_delivery_page(request, deliveries, show_target=False),
        **_last_test(target),
        "target": target,
        "form": form,
        "filter_form": filter_form,
        "daily_cap": selectors.target_daily_cap(target=target),
        "new_secret": _pop_secret(request, target),
        "is_rotating": isinstance(signing_secret, list) and len(signing_secret) > 1,
        "secrets_set": target.secrets_set(),
        "listings": list(target.listings.all()) if target.scope == "chosen" else [],
    }


@publisher_required
@require_POST
def target_test(request: HttpRequest, target_id: int) -> HttpResponse:
    """Queue a test lead for a worker to send; htmx gets the fragment that polls for its
    result, a plain form a redirect to the page that shows it."""
    target = _target_or_404(request, target_id, for_owner=True)
    test = services.target_test_start(target=target)
    if _is_htmx(request):
        return render(
            request, "crm/target_detail.html#test-result", {"target": target, **_shown_test(test)}
        )
    messages.info(request, _("The test lead is on its way. Its result shows below."))
    return redirect("crm-target-detail", target_id=target.pk)


@publisher_required
@require_GET
def target_test_result(request: HttpRequest, target_id: int, delivery_id: int) -> HttpResponse:
    """The result of one test lead, as the fragment that the page polls while it is
    being sent (every role may read it, like the page itself)."""
    target = _target_or_404(request, target_id)
    test = selectors.target_test_get(target=target, delivery_id=delivery_id)
    found_or_404(test, _("No such test lead."))
    context = {"target": target, **_shown_test(test)}
    context["oob"] = not context["result"].is_waiting  # done: refresh the verified badge
    return render(request, "crm/target_detail.html#test-result", context)


@publisher_required
@require_POST
def target_pause(request: HttpRequest, target_id: int) -> HttpResponse:
    """Pause a target: its deliveries wait, pending, until it resumes."""
    target = _target_or_404(request, target_id, for_owner=True)
    targets.targets_pause(targets=CrmTarget.objects.filter(pk=target.pk))
    messages.success(
        request, _("%(name)s is paused. Its leads wait until you resume it.") % {"name": target}
    )
    return redirect("crm-target-detail", target_id=target.pk)


@publisher_required
@require_POST
def target_resume(request: HttpRequest, target_id: int) -> HttpResponse:
    """Resume a paused target; what it kept pending goes out now."""
    target = _target_or_404(request, target_id, for_owner=True)
    targets.targets_resume(targets=CrmTarget.objects.filter(pk=target.pk))
    messages.success(request, _("%(name)s is active again.") % {"name": target})
    return redirect("crm-target-detail", target_id=target.pk)


@publisher_required
@require_POST
def target_rotate_secret(request: HttpRequest, target_id: int) -> HttpResponse:
    """Start a signing-secret rotation; the new secret is shown once on the next page."""
    target = _target_or_404(request, target_id, for_owner=True)
    if target.kind != CrmTarget.Kind.HTTPS:
        raise Http404(_("Only HTTPS targets have a signing secret."))
    _show_secret_once(request, target, targets.target_signing_secret_rotate(target=target))
    messages.success(
        request,
        _("A new secret signs beside the old one. Update your endpoint, then finish the rotation."),
    )
    return redirect("crm-target-detail", target_id=target.pk)


@publisher_required
@require_POST
def target_finish_rotation(request: HttpRequest, target_id: int) -> HttpResponse:
    """Drop the old signing secret; only the new one signs from now on."""
    target = _target_or_404(request, target_id, for_owner=True)
    targets.target_signing_secret_finish_rotation(target=target)
    messages.success(
        request, _("The old secret no longer signs. Send a test lead to verify the endpoint.")
    )
    return redirect("crm-target-detail", target_id=target.pk)


# --- Deliveries ---------------------------------------------------------------------------


@publisher_required
def delivery_list(request: HttpRequest) -> HttpResponse:
    """The publisher's deliveries across its targets; ?lead=<uuid> narrows to one lead."""
    # The filter's choices only: counting each target's deliveries read the whole outbox.
    publisher_targets = selectors.targets_named(publisher=request.publisher)
    filter_form = DeliveryFilterForm(
        request.GET or None, targets=publisher_targets, auto_id="filter_%s"
    )
    filters = filter_form.filters
    deliveries = selectors.deliveries_for_publisher(publisher=request.publisher, filters=filters)
    # Unless one target is chosen, the page walks each target's rows (a query for their ids).
    target_ids = None if filters.target_id else selectors.target_ids_of(publisher=request.publisher)
    context = {
        **_delivery_page(request, deliveries, show_target=True, target_ids=target_ids),
        "filter_form": filter_form,
        "lead_uuid": filters.lead_uuid,
    }
    return render(request, "crm/delivery_list.html", context)


@publisher_required
@require_POST
def delivery_redeliver_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Send a delivered or failed delivery again, then go back where the button was."""
    delivery = selectors.delivery_get_for_publisher(
        publisher=request.publisher, delivery_id=delivery_id
    )
    found_or_404(delivery, _("No such delivery."))
    _check_owner(request)
    if delivery.status == Delivery.Status.SENDING:
        messages.info(request, _("This delivery is being sent right now."))
    elif not selectors.delivery_may_redeliver(delivery=delivery):
        messages.error(request, _("This delivery cannot be sent again: the lead was erased."))
    else:
        services.delivery_redeliver(delivery=delivery)
        messages.success(
            request, _("The lead will be sent to %(target)s again.") % {"target": delivery.target}
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("crm-deliveries")
    return redirect(next_url)
