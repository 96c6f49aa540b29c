"""Helpers shared by the CRM target form and admin test modules."""

from crm.models import CrmTarget

# A stored secret that must never appear in any page.
SENTINEL = "whsec_SENTINEL-c2VjcmV0LW5ldmVyLXNob3du"


def form_data(**overrides) -> dict:
    """The admin's target form data for a new HTTPS target, with `overrides`."""
    data = {
        "publisher": "",
        "kind": CrmTarget.Kind.HTTPS,
        "name": "Webhook",
        "scope": CrmTarget.Scope.ALL_LISTINGS,
        "is_active": "on",
        "rate_limit": "",
        "rate_period_seconds": "",
        "batch_size": "",
        "extra_fields": "{}",
    }
    return data | overrides


def edit_data(target, **overrides) -> dict:
    """The form data that resubmits `target` unchanged but for `overrides`."""
    current = {
        "publisher": str(target.publisher_id or ""),
        "name": target.name,
        "rate_limit": str(target.rate_limit),
        "rate_period_seconds": str(target.rate_period_seconds),
        "batch_size": str(target.batch_size),
        "config_httpsEndpointUrl": target.config.get("httpsEndpointUrl", ""),
        "config_signingSecret": "",
        "config_contactEmail": "",
    }
    return form_data(**(current | overrides))
