"""Sign-in settings beyond the password: OpenID Connect single sign-on, the staff rules
for local passwords, and TOTP two-factor (docs/sso.md). Read by portal/settings.py.

OIDC_ISSUER is the provider's issuer; its endpoints come from the discovery document
(<issuer>/.well-known/openid-configuration), read when the first sign-in needs them, so
that a provider that is down never stops a process from starting.
"""

import environ

OIDC_BACKEND = "portal.sso.backends.OidcBackend"


def sso_settings(env: environ.Env, *, apps: list[str], middleware: list[str]) -> dict:
    """The settings to add: apps, middleware and backends extended, and the OIDC values."""
    issuer = env.str("OIDC_ISSUER", default="").rstrip("/")
    after = middleware.index("django.contrib.messages.middleware.MessageMiddleware")
    return {
        "INSTALLED_APPS": [*apps, "django_otp", "django_otp.plugins.otp_totp", "portal.sso"],
        # django-otp's request.user.is_verified() once the user and messages are known;
        # the staff rules (SSO only, or a second factor for admin) right after that.
        "MIDDLEWARE": [
            *middleware[: after + 1],
            "django_otp.middleware.OTPMiddleware",
            "portal.sso.middleware.StaffSignInMiddleware",
            *middleware[after + 1 :],
        ],
        # django-axes first (it refuses locked-out attempts), then passwords, then OIDC.
        "AUTHENTICATION_BACKENDS": [
            "axes.backends.AxesStandaloneBackend",
            "django.contrib.auth.backends.ModelBackend",
            OIDC_BACKEND,
        ],
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": env.str("OIDC_CLIENT_ID", default=""),
        "OIDC_CLIENT_SECRET": env.str("OIDC_CLIENT_SECRET", default=""),
        # Email domains whose users may sign in ("*": any domain the issuer vouches for).
        "OIDC_ALLOWED_DOMAINS": [
            domain.strip().lower()
            for domain in env.list("OIDC_ALLOWED_DOMAINS", default=[])
            if domain.strip()
        ],
        # The value of the groups claim that makes a user staff (empty: none does).
        "OIDC_STAFF_GROUP": env.str("OIDC_STAFF_GROUP", default=""),
        "OIDC_PROVIDER_NAME": env.str("OIDC_PROVIDER_NAME", default=""),
        "OIDC_DISCOVERY_CACHE_SECONDS": env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600),
        # mozilla-django-oidc's own settings. The endpoints are read from discovery and the
        # client's id and secret are the two above (portal.sso.discovery.oidc_setting).
        "OIDC_RP_SIGN_ALGO": env.str("OIDC_SIGN_ALGO", default="RS256"),
        "OIDC_RP_SCOPES": env.str("OIDC_SCOPES", default="openid email profile"),
        "OIDC_USE_PKCE": True,
        "OIDC_CREATE_USER": False,
        "OIDC_TIMEOUT": env.float("OIDC_TIMEOUT", default=10.0),
        "OIDC_CALLBACK_CLASS": "portal.sso.views.CallbackView",
        "OIDC_AUTHENTICATE_CLASS": "portal.sso.views.AuthenticateView",
        # Staff: local passwords allowed (else staff sign in with SSO only), and whether
        # staff on a local password need a TOTP code for admin.
        "LOCAL_PASSWORDS_FOR_STAFF": env.bool("LOCAL_PASSWORDS_FOR_STAFF", default=True),
        "OTP_REQUIRED_FOR_STAFF": env.bool("OTP_REQUIRED_FOR_STAFF", default=False),
        "OTP_TOTP_ISSUER": env.str("OTP_TOTP_ISSUER", default="Lead Portal"),
        # Admin never shows a device's TOTP secret or its QR code (403): a staff member
        # enrols on their own page only.
        "OTP_ADMIN_HIDE_SENSITIVE_DATA": True,
    }
