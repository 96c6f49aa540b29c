"""gunicorn's configuration for Lead Portal: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi`.

Everything comes from the environment (deploy/env.example), so one file serves every
host. Command-line flags still win over it (`-b`, `-w`).
"""

import os
import shutil
from pathlib import Path

from gunicorn.glogging import Logger

from inbound.log_filters import token_mask

try:
    from prometheus_client import multiprocess
except ImportError:  # optional: metrics are off without it
    multiprocess = None


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


wsgi_app = "portal.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",")
# Sync workers: each holds one request at a time. Two per core is a start; intake
# latency is what says when to add web processes (docs/operations.md, "Scaling").
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1))
worker_class = "sync"
# A request that runs longer is killed and logged; the slowest pages (exports stream) stay
# well under it. The proxy in front should time out a little later than this.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle a worker now and then, with jitter so they do not all restart together.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Each worker loads the application after the fork, so that no database pool or Redis
# connection is ever shared between processes. A broken settings module still stops
# the master: gunicorn exits when a worker fails to boot.
preload_app = False
# gunicorn's control socket (gunicornc) defaults to a file in the home directory, which
# the systemd unit makes read-only and which two web processes on one host would share.
control_socket_disable = True
# Behind a TLS-terminating proxy (BEHIND_TLS_PROXY=1), which sets X-Forwarded-Proto.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proxy_allow_ips = forwarded_allow_ips


class AccessLogger(Logger):
    """The access log without secrets or personal data: no query string (it can carry a
    token or an address), the inbound URL token masked in the path (inbound/log_filters),
    and no client address, header, referrer or user agent, whatever the format asks."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = token_mask(environ.get("PATH_INFO", ""))
        atoms.update(
            {"U": path, "q": "-", "h": "-", "u": "-", "f": "-", "a": "-"},
            r=f"{environ.get('REQUEST_METHOD')} {path} {environ.get('SERVER_PROTOCOL')}",
        )
        for name in [name for name in atoms if name.startswith("{")]:
            atoms[name] = "-"
        return atoms


# Logs go to standard error (systemd's journal). GUNICORN_ACCESS_LOG=0 turns the access
# log off; on, it shows the time, the method, the masked path, the status, the size and
# the duration.
logger_class = AccessLogger
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") != "0" else None
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

# Prometheus' multiprocess mode: each worker writes its metrics into this folder, which
# must be empty when the master starts and lose a worker's files when it exits.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(server) -> None:
    if PROMETHEUS_MULTIPROC_DIR:
        folder = Path(PROMETHEUS_MULTIPROC_DIR)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)


def child_exit(server, worker) -> None:
    """A dead worker's live gauges leave the multiprocess folder (prometheus-client's
    documented hook). Without prometheus-client installed there is nothing to clean."""
    if PROMETHEUS_MULTIPROC_DIR and multiprocess is not None:
        multiprocess.mark_process_dead(worker.pid)
