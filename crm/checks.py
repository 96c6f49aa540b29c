"""System checks for the delivery side."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def private_targets_refused_in_production(app_configs, **kwargs):
    """Loopback and private CRM targets are for tests and the DEBUG first run only."""
    if settings.CRM_ALLOW_PRIVATE_TARGETS and not settings.DEBUG:
        return [
            Error(
                "CRM_ALLOW_PRIVATE_TARGETS is on while DEBUG is off.",
                hint="It lifts the SSRF guard; unset it outside tests and the first run.",
                id="crm.E001",
            )
        ]
    return []
