"""Lead Portal settings: one module, driven by the environment (django-environ).

Every variable is listed in `.env.example` and in the README. With nothing set, the first
run's embedded defaults apply: SQLite, the Celery file-system transport and email files,
all under `var/`. Production differs only by environment variables.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from portal import observability_config
from portal.auth_config import sso_settings
from portal.mail_config import anymail_settings, default_mailer, sending_identity_settings
from portal.retention_config import retention_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks. They are refused outright when DEBUG is off, so that a
# production process can never start on a key that is published in this repository.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when DEBUG is off; "
        f"see .env.example and the README's configuration table."
    )


SECRET_KEY = _required_in_production("SECRET_KEY", _DEV_SECRET_KEY)
# Old secret keys, still accepted when reading signed values during a rotation.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# The key of the suppression list's address HMAC (leads/address_hash.py). Empty: derived
# from SECRET_KEY. Set it in production so that rotating SECRET_KEY never touches it.
SUPPRESSION_HASH_KEY = env.str("SUPPRESSION_HASH_KEY", default="")
# The erasure journal (privacy/journal.py): keep it beside, not inside, the database backups.
PRIVACY_JOURNAL_PATH = env.str(
    "PRIVACY_JOURNAL_PATH", default=str(VAR_DIR / "privacy" / "erasures.jsonl")
)
# The key of the inbound URL tokens' HMAC (inbound/tokens.py). Empty: derived from
# SECRET_KEY. Set it in production so that rotating SECRET_KEY never breaks an inbound URL.
INBOUND_TOKEN_HASH_KEY = env.str("INBOUND_TOKEN_HASH_KEY", default="")
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _required_in_production("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEY).split(",")
    if key.strip()
]

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PORTAL_BASE_URL])

# Loopback and private CRM targets are for tests and the DEBUG first run only; the
# system check `crm.E001` refuses it in production.
CRM_ALLOW_PRIVATE_TARGETS = env.bool("CRM_ALLOW_PRIVATE_TARGETS", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # django-ninja's Swagger UI assets, served from our own static files (the CSP blocks
    # the CDN copy it falls back to when "ninja" is not installed).
    "ninja",
    "portal.tenancy",
    "leads",
    "crm",
    "inbound",
    # Retention: leads erased some months after their last activity (docs/privacy.md).
    "privacy.retention",
    "portal.shell",
    # Data rights: find, export, erase a person; the access log (docs/privacy.md).
    "privacy",
    # Sign-in throttling: failed attempts per (user, address) and per address.
    "axes",
    # Email service providers: backends and tracking webhooks (docs/email.md).
    "anymail",
]
# The first run's demo (seed_demo, simulate_storefront, /demo/receiver/): on with DEBUG,
# or where it is asked for, such as a production-like smoke test that seeds demo data.
DEMO_ENABLED = env.bool("DEMO_ENABLED", default=DEBUG)
if DEMO_ENABLED:
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    # The request id (X-Request-ID) on logs and tasks; intake's request metrics.
    "portal.observability.RequestIdMiddleware",
    "leads.middleware.ApiBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "portal.tenancy.middleware.CurrentPublisherMiddleware",
    # Staff views of a lead's personal data in admin go to the access log (privacy).
    "privacy.middleware.AdminAccessLogMiddleware",
    # Last, so that it turns a locked-out sign-in into the 429 lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.tenancy.middleware.current_publisher",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'leadportal.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections through psycopg's pool (DESIGN §4): reuse is worth about
    # five times the throughput of a connection per request on this class of machine.
    DATABASES["default"].setdefault("OPTIONS", {})
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": 10,
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    # WAL lets the web process, the worker and beat share the first-run SQLite file.
    DATABASES["default"]["OPTIONS"].update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in and API throttling (docs/security.md, "Authentication and throttling") -----
# django-axes refuses a sign-in (portal and admin) after LOGIN_FAILURE_LIMIT failures for
# one (username, address) pair, or LOGIN_IP_FAILURE_LIMIT failures from one address for
# any usernames, within LOGIN_COOLOFF_MINUTES; then even the right password is refused
# until the cool-off has passed or staff unlock. Attempts live in the database (shared by
# every web worker, and listed in admin).
# Apps, middleware and backends of single sign-on and two-factor (portal/auth_config.py).
globals().update(sso_settings(env, apps=INSTALLED_APPS, middleware=MIDDLEWARE))
AXES_HANDLER = "portal.throttling.TieredAxesHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=50)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
# A refused attempt during a lock does not restart it: the page's "N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "portal.throttling.throttle_address"
AXES_LOCKOUT_CALLABLE = "portal.throttling.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# The client's address is REMOTE_ADDR, unless proxies that we run sit in front: then it is
# the X-Forwarded-For entry that the outermost of these TRUSTED_PROXY_COUNT proxies wrote.
# Entries further left are whatever the client sent, so they are never trusted.
TRUSTED_PROXY_COUNT = env.int(
    "TRUSTED_PROXY_COUNT", default=1 if env.bool("BEHIND_TLS_PROXY", default=False) else 0
)
# Password reset requests: per address, and per target email (over the limit, the page
# answers as usual but no email is sent, so it reveals nothing about the account).
PASSWORD_RESET_IP_LIMIT = env.int("PASSWORD_RESET_IP_LIMIT", default=10)
PASSWORD_RESET_EMAIL_LIMIT = env.int("PASSWORD_RESET_EMAIL_LIMIT", default=3)
PASSWORD_RESET_WINDOW_MINUTES = env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60)
# Failed API authentications (storefront, Microsoft-seller keys, publisher tokens) per
# address: at the limit, every API call from that address gets 429 until the window ends.
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=20)
API_AUTH_WINDOW_MINUTES = env.int("API_AUTH_WINDOW_MINUTES", default=5)
# Partner Center inbound URLs (docs/partner-center.md): how long a rotated URL keeps
# working, and how long the same body counts as a replay rather than a new lead.
INBOUND_TOKEN_GRACE_HOURS = env.int("INBOUND_TOKEN_GRACE_HOURS", default=72)
INBOUND_REPLAY_WINDOW_SECONDS = env.int("INBOUND_REPLAY_WINDOW_SECONDS", default=86400)

# --- Internationalisation -----------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ------------------------------------------------------------------------------
# EMAIL_URL (portal.mail_config): SMTP, files under var/mail, or an ESP through anymail
# (docs/email.md); ANYMAIL_WEBHOOK_SECRET is "user:password" (the webhooks 404 without it).
ANYMAIL = anymail_settings(
    env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
    ses_auto_confirm=env.bool("ANYMAIL_SES_AUTO_CONFIRM", default=True),
)
MAILERS = {
    "default": default_mailer(
        env.str("EMAIL_URL", default="filemail://"),
        timeout=env.int("EMAIL_TIMEOUT", default=30),
        var_dir=VAR_DIR,
    )
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Lead Portal <leads@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SENDING_IDENTITY = sending_identity_settings(env)  # publishers' own From (docs/email.md)

# --- Security headers -------------------------------------------------------------------
# CSP: no inline script and no eval anywhere; chart data travels through json_script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- Cache ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.redis_cache.SharedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "leadportal",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "leadportal",
        }
    }

# --- Celery -----------------------------------------------------------------------------
# Embedded default: kombu's file-system transport under var/, so a first run needs no
# service. With CELERY_BROKER_URL set (redis://…), Redis is the broker.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    _processed_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    # The visibility timeout only bounds how late a message lost by a killed worker is
    # redelivered; retries never use Celery countdowns (DESIGN §4), so it stays short.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A message is acknowledged after its task ran, and given back when its worker process
# dies or the worker stops (docs/delivery.md#shutdown); one message reserved per process.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool process is replaced after WORKER_MAX_TASKS_PER_CHILD tasks (0: never), as gunicorn's
# workers are. (Not CELERY_…: the celery command reads its options from CELERY_* variables.)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("WORKER_MAX_TASKS_PER_CHILD", 10_000) or None
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
# Queues of their own, so that neither a delivery backlog nor the nurture sender can hold
# up the other (docs/operations.md). A plain `celery -A portal worker` consumes all
# three; a dedicated worker takes `-Q delivery` or `-Q nurture`. The portal's test lead
# rides the default queue, so a delivery backlog never keeps an owner waiting.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = {"celery": {}, "delivery": {}, "nurture": {}}
CELERY_TASK_ROUTES = {
    "crm.deliver_target": {"queue": "delivery"},
    "crm.sweep": {"queue": "delivery"},
    "leads.send_due_nurture_steps": {"queue": "nurture"},
    "leads.settle_interrupted_nurture": {"queue": "nurture"},
    "leads.notify_new_leads": {"queue": "nurture"},
    "leads.recheck_sending_identities": {"queue": "nurture"},
    # Partner Center's Referrals API: outbound calls, paced like the deliveries.
    "crm.referrals_sync": {"queue": "delivery"},
    "crm.referral_connection_sync": {"queue": "delivery"},
    "crm.referral_push": {"queue": "delivery"},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    # The outbox sweep: wakes a worker for every target with due or stuck deliveries.
    "crm-sweep": {"task": "crm.sweep", "schedule": env.float("CRM_SWEEP_SECONDS", default=5.0)},
    # The dashboard's delivery health, counted into the cache.
    "crm-delivery-health": {"task": "crm.delivery_health_refresh", "schedule": 300.0},
    # The dashboard's daily figures (LeadDailyStat) of today and yesterday.
    "leads-rollup-recent": {"task": "leads.rollup_recent", "schedule": 300.0},
    # The nurture sender: due sequence steps out over SMTP (leads.nurture.send).
    "leads-nurture": {"task": "leads.send_due_nurture_steps", "schedule": 60.0},
    # A dead sender's `sending` nurture emails, settled once its lease (15 s) ran out.
    "leads-nurture-settle": {"task": "leads.settle_interrupted_nurture", "schedule": 10.0},
    "leads-sending-recheck": {"task": "leads.recheck_sending_identities", "schedule": 3600.0},
    # Inbound items whose processing task was lost or the worker was down (inbound.services).
    "inbound-sweep": {"task": "inbound.sweep", "schedule": 60.0},
    # The Partner Center Azure Table reader: one read task per source (inbound.table).
    "inbound-read-tables": {
        "task": "inbound.read_tables",
        "schedule": env.float("INBOUND_TABLE_POLL_SECONDS", default=60.0),
    },
    # New-lead email: plans new activities per member and sends what is due
    # (leads.notifications); "immediate" means within one period.
    "leads-notify": {
        "task": "leads.notify_new_leads",
        "schedule": env.float("LEAD_NOTIFY_SWEEP_SECONDS", default=30.0),
    },
    # Co-Sell referrals: the incremental read of each Partner Center connection, and the
    # retries of the publishers' accept/decline/won/lost (crm.referrals).
    "crm-referrals-sync": {
        "task": "crm.referrals_sync",
        "schedule": env.float("PARTNER_CENTER_SYNC_SECONDS", default=300.0),
    },
}
# --- Retention (privacy.retention, docs/operations.md; portal.retention_config) -------------
RETENTION_HOUR, RETENTION_BATCH_SIZE, RETENTION_LEASE_SECONDS, RETENTION_TASK_BUDGET_SECONDS = (
    retention_settings(env)
)
CELERY_BEAT_SCHEDULE["privacy-retention"] = {
    "task": "privacy.retention_run",
    "schedule": crontab(hour=RETENTION_HOUR, minute=0),
}
# The leads one new-lead email lists by name; the rest are counted ("and 12 more").
LEAD_NOTIFY_MAX_LISTED = env.int("LEAD_NOTIFY_MAX_LISTED", default=10)

# /readyz adds each app's figures under these names (portal does not import the apps).
HEALTH_CHECKS = {"outbox": "crm.selectors.outbox_health"}

# --- CRM delivery ---------------------------------------------------------------------------
# Attempt k (1-based) failing schedules attempt k+1 after CRM_RETRY_SCHEDULE[k] seconds,
# with ±20 % jitter: about 75 hours in all (Standard Webhooks' example schedule).
CRM_RETRY_SCHEDULE = env.list(
    "CRM_RETRY_SCHEDULE",
    cast=float,
    default=[0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400],
)
CRM_MAX_ATTEMPTS = len(CRM_RETRY_SCHEDULE)
# Per call to a CRM: connect, then the whole exchange (crm-contracts.md: 5 s and 30 s).
CRM_CONNECT_TIMEOUT = env.float("CRM_CONNECT_TIMEOUT", default=5.0)
CRM_TOTAL_TIMEOUT = env.float("CRM_TOTAL_TIMEOUT", default=30.0)
# The lease of a claimed delivery and of a drain slot. A live worker's heartbeat renews it
# every third of this; a dead worker's rows go back to pending when it runs out
# (docs/delivery.md#leases).
CRM_LEASE_SECONDS = env.int("CRM_LEASE_SECONDS", default=15)
# How long one delivery task may work on a target before it hands over.
CRM_TASK_BUDGET_SECONDS = env.int("CRM_TASK_BUDGET_SECONDS", default=60)
# How many tasks may drain one target at once. Keep it below the worker concurrency, so
# that a dead CRM can never hold every worker process (2 suits a worker of 4 or more).
CRM_TARGET_DRAINS = env.int("CRM_TARGET_DRAINS", default=1)
# Threads per worker process that send a claim's calls together (crm.sending), for
# connectors without a batch API; 1 sends them one after the other.
CRM_SEND_CONCURRENCY = env.int("CRM_SEND_CONCURRENCY", default=4)
# A target has at most one wake-up queued per drain slot: the mark is set when a wake-up
# is queued and cleared when its task starts. Its lifetime bounds how long a lost
# message can hold a target's wake-ups back (the sweep then queues a fresh one).
CRM_WAKE_TTL_SECONDS = env.int(
    "CRM_WAKE_TTL_SECONDS", default=max(10, int(6 * env.float("CRM_SWEEP_SECONDS", default=5.0)))
)

# --- Inbound: the Partner Center Azure Table reader (docs/partner-center.md) --------------
# How far a read goes back behind the watermark (late entities; re-reads never duplicate);
# entities per page, one transaction each (Azure answers at most 1,000); a read's lease;
# how long one read goes on before it leaves the rest to the next beat tick.
INBOUND_TABLE_OVERLAP_SECONDS = env.int("INBOUND_TABLE_OVERLAP_SECONDS", default=300)
INBOUND_TABLE_PAGE_SIZE = env.int("INBOUND_TABLE_PAGE_SIZE", default=200)
INBOUND_TABLE_LEASE_SECONDS = env.int("INBOUND_TABLE_LEASE_SECONDS", default=120)
INBOUND_TABLE_READ_BUDGET_SECONDS = env.int("INBOUND_TABLE_READ_BUDGET_SECONDS", default=60)

# --- Partner Center Referrals API (Co-Sell referrals, crm.referrals) ----------------------
# Azure AD's v1 token endpoint ({tenant}: the connection's directory), the API's base.
PARTNER_CENTER_TOKEN_URL = env.str(
    "PARTNER_CENTER_TOKEN_URL", default="https://login.microsoftonline.com/{tenant}/oauth2/token"
)
PARTNER_CENTER_API_URL = env.str(
    "PARTNER_CENTER_API_URL", default="https://api.partner.microsoft.com/v1.0/engagements/referrals"
)
# Re-read behind the watermark (skew, late writes); a dead sync's lease; the page size; the
# longest 429 Retry-After waited out in the call (a longer one ends the sync).
PARTNER_CENTER_SYNC_OVERLAP_SECONDS = env.int("PARTNER_CENTER_SYNC_OVERLAP_SECONDS", default=600)
PARTNER_CENTER_SYNC_LEASE_SECONDS = env.int("PARTNER_CENTER_SYNC_LEASE_SECONDS", default=600)
PARTNER_CENTER_PAGE_SIZE = env.int("PARTNER_CENTER_PAGE_SIZE", default=100)
PARTNER_CENTER_MAX_WAIT_SECONDS = env.float("PARTNER_CENTER_MAX_WAIT_SECONDS", default=30.0)

# --- Admin ------------------------------------------------------------------------------
# The Co-Sell program page that the portal links to (DESIGN §1).
CO_SELL_PROGRAM_URL = env.str(
    "CO_SELL_PROGRAM_URL",
    default="https://learn.microsoft.com/partner-center/referrals/co-sell-overview",
)

# --- Observability (portal/observability_config.py, docs/operations.md) ---------------------
LOGGING = observability_config.logging_config(
    log_format=env.str("LOG_FORMAT", default="plain"), level=env.str("LOG_LEVEL", default="INFO")
)
# /metrics from elsewhere than loopback needs `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A worker's own /metrics exporter port (0: none; workers share PROMETHEUS_MULTIPROC_DIR).
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
# /readyz answers 503 past these ages of beat's heartbeat and of the oldest due delivery.
READY_BEAT_MAX_AGE_SECONDS = env.int("READY_BEAT_MAX_AGE_SECONDS", default=180)
READY_OUTBOX_MAX_AGE_SECONDS = env.int("READY_OUTBOX_MAX_AGE_SECONDS", default=900)
# One beat schedules at a time: the others wait for its Redis lock (portal/beat.py).
CELERY_BEAT_SCHEDULER = "portal.beat:SingletonScheduler"
BEAT_LOCK_SECONDS = env.int("BEAT_LOCK_SECONDS", default=30)
observability_config.sentry_init(
    env.str("SENTRY_DSN", default=""),
    environment=env.str("SENTRY_ENVIRONMENT", default="production"),
    release=env.str("SENTRY_RELEASE", default=""),
)
