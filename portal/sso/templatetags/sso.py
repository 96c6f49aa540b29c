"""{% sso_button %}: the "Sign in with …" link, only when single sign-on is configured."""

from django import template
from django.conf import settings

from portal.sso.discovery import sso_enabled

register = template.Library()


@register.inclusion_tag("sso/button.html")
def sso_button(next_url: str = ""):
    return {
        "enabled": sso_enabled(),
        "provider": settings.OIDC_PROVIDER_NAME,
        "next": next_url,
    }
