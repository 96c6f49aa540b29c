"""EMAIL_URL to the default mailer's backend and options (settings.MAILERS).

EMAIL_URL in django-environ's form (smtp://user:pass@host:587?tls=1, consolemail://,
filemail://), or an ESP through django-anymail (docs/email.md): sendgrid://:API_KEY@,
postmark://:SERVER_TOKEN@, amazonses:// (AWS credentials from boto3's usual sources).
"""

import urllib.parse
from pathlib import Path

import environ

ANYMAIL_SCHEMES = {
    "sendgrid": ("anymail.backends.sendgrid.EmailBackend", "api_key"),
    "postmark": ("anymail.backends.postmark.EmailBackend", "server_token"),
    "amazonses": ("anymail.backends.amazon_ses.EmailBackend", None),
}


def default_mailer(url: str, *, timeout: int, var_dir: Path) -> dict:
    """The default mailer ({"BACKEND", "OPTIONS"}) that EMAIL_URL names."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ANYMAIL_SCHEMES:
        backend, key_option = ANYMAIL_SCHEMES[scheme]
        key = urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
        return {"BACKEND": backend, "OPTIONS": {key_option: key} if key_option and key else {}}
    email = environ.Env.email_url_config(url)
    backend = email["EMAIL_BACKEND"]
    if backend.endswith("smtp.EmailBackend"):
        options = {
            "host": email.get("EMAIL_HOST") or None,
            "port": email.get("EMAIL_PORT") or None,
            "username": email.get("EMAIL_HOST_USER") or None,
            "password": email.get("EMAIL_HOST_PASSWORD") or None,
            "use_tls": bool(email.get("EMAIL_USE_TLS")),
            "use_ssl": bool(email.get("EMAIL_USE_SSL")),
            "timeout": timeout,
        }
        options = {k: v for k, v in options.items() if v is not None}
    elif backend.endswith("filebased.EmailBackend"):
        options = {"file_path": email.get("EMAIL_FILE_PATH") or str(var_dir / "mail")}
    else:
        options = {}
    return {"BACKEND": backend, "OPTIONS": options}


def anymail_settings(webhook_secret: str, *, ses_auto_confirm: bool) -> dict:
    """settings.ANYMAIL: the webhooks' secret and, with it, SES's subscription confirming."""
    anymail = {"WEBHOOK_SECRET": webhook_secret}
    if webhook_secret:
        anymail["AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS"] = ses_auto_confirm
    return anymail


def sending_identity_settings(env: environ.Env) -> dict:
    """settings.SENDING_IDENTITY: the SPF include publishers publish and the DNS check's
    resolver (docs/email.md). Empty nameservers: the system's resolver."""
    return {
        # The domain whose SPF lists the portal's sending hosts (default: DEFAULT_FROM_EMAIL's).
        "SPF_INCLUDE": env.str("SENDING_SPF_INCLUDE", default=""),
        "DNS_NAMESERVERS": env.list("SENDING_DNS_NAMESERVERS", default=[]),
        "DNS_PORT": env.int("SENDING_DNS_PORT", default=53),
        "DNS_TIMEOUT": env.float("SENDING_DNS_TIMEOUT", default=3.0),
        # Beat re-checks each identity's DNS this long after its last check.
        "RECHECK_HOURS": env.float("SENDING_RECHECK_HOURS", default=24.0),
    }
