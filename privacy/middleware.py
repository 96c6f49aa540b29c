"""The admin's views of a lead's personal data go to the access log.

After a staff member's successful GET of an admin change (or history) page of a model
the registry names (a lead, a Co-Sell referral, an activity, an email send, a delivery,
an inbound item, ...), an entry records who, which row and its publisher; a change list
records a list view. Nothing of what the page showed is written.
"""

from django.apps import apps

from privacy import registry, services
from privacy.models import AccessLogEntry

_VIEWS = ("change", "history", "changelist")


def _logged_models() -> dict[str, tuple[type, str | None]]:
    """admin URL prefix ("leads_lead") -> (model, path from a row to its publisher id)."""
    logged = {}
    for store in registry.STORES:
        if store.lead_path is None:
            continue
        model = apps.get_model(store.model)
        logged[f"{model._meta.app_label}_{model._meta.model_name}"] = (
            model,
            _publisher_path(store),
        )
    referral = apps.get_model("leads", "CoSellReferral")
    logged["leads_cosellreferral"] = (referral, "publisher_id")
    return logged


def _publisher_path(store: registry.Store) -> str:
    if store.lead_path == "id":
        return "publisher_id"
    return store.lead_path.removesuffix("_id") + "__publisher_id"


class AdminAccessLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.logged = _logged_models()

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if (
            request.method == "GET"
            and response.status_code == 200
            and match is not None
            and match.namespace == "admin"
            and getattr(request, "user", None) is not None
            and request.user.is_staff
        ):
            self._record(request, match)
        return response

    def _record(self, request, match) -> None:
        prefix, _sep, view = (match.url_name or "").rpartition("_")
        if view not in _VIEWS or prefix not in self.logged:
            return
        model, publisher_path = self.logged[prefix]
        object_id = match.kwargs.get("object_id")
        publisher_id = None
        if object_id is not None:
            publisher_id = (
                model._base_manager.filter(pk=object_id)
                .values_list(publisher_path, flat=True)
                .first()
            )
        services.access_record(
            user=request.user,
            action=AccessLogEntry.Action.LIST
            if view == "changelist"
            else AccessLogEntry.Action.VIEW,
            source=AccessLogEntry.Source.ADMIN,
            publisher_id=publisher_id,
            object_type=model._meta.label_lower,
            object_ids=[object_id] if object_id is not None else [],
        )
