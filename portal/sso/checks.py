"""System checks of the single sign-on settings (docs/sso.md)."""

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def sso_settings_are_complete(app_configs=None, **kwargs):
    problems = []
    if not settings.OIDC_ISSUER:
        if not settings.LOCAL_PASSWORDS_FOR_STAFF:
            problems.append(
                Error(
                    "LOCAL_PASSWORDS_FOR_STAFF is off but OIDC_ISSUER is unset: no staff "
                    "member could sign in.",
                    hint="Configure single sign-on (docs/sso.md) or allow staff passwords.",
                    id="sso.E001",
                )
            )
        return problems
    if not settings.OIDC_CLIENT_ID or not settings.OIDC_CLIENT_SECRET:
        problems.append(
            Error(
                "OIDC_ISSUER is set but OIDC_CLIENT_ID or OIDC_CLIENT_SECRET is not.",
                id="sso.E002",
            )
        )
    if not settings.OIDC_ALLOWED_DOMAINS:
        problems.append(
            Warning(
                "OIDC_ALLOWED_DOMAINS is empty: every single sign-on is refused.",
                hint="List the email domains that may sign in, or '*' for any.",
                id="sso.W001",
            )
        )
    if not settings.DEBUG and not settings.OIDC_ISSUER.startswith("https://"):
        problems.append(
            Error("OIDC_ISSUER must be an https:// address when DEBUG is off.", id="sso.E003")
        )
    return problems
