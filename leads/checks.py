"""System checks for the leads app."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security)
def unsubscribe_links_use_https(app_configs, **kwargs):
    """RFC 8058 one-click unsubscribe needs an https List-Unsubscribe URL."""
    if settings.DEBUG or urlsplit(settings.PORTAL_BASE_URL).scheme == "https":
        return []
    return [
        Warning(
            "PORTAL_BASE_URL is not https while DEBUG is off.",
            hint=(
                "Nurture emails build their List-Unsubscribe URL from it, and mailbox "
                "providers only honour one-click unsubscribe over https (RFC 8058)."
            ),
            id="leads.W001",
        )
    ]
