"""A production deployment on loopback, built from the README's "Running in production".

The README's code block is parsed, not copied: each `python manage.py …` line runs as
written (with `python` the virtualenv's), and the `gunicorn` and `celery` lines start the
web, worker and beat processes. Only these change, and each change is a test's need:
- gunicorn (with deploy/gunicorn.conf.py) binds a free loopback port instead of
  0.0.0.0:8000, with 2 workers (the CI machine has 2 cores);
- `createsuperuser` gets `--no-input` (with DJANGO_SUPERUSER_* in the environment);
- the worker alone runs with CRM_ALLOW_PRIVATE_TARGETS=1 and the receiver's CA in
  CRM_EXTRA_CA_BUNDLE, because the CRM receiver is on loopback. The deploy check, migrate,
  collectstatic, gunicorn and beat run without the flag, as production does.

Services of the test's own: a PostgreSQL database it creates and drops, a Redis server on
a free port, an aiosmtpd SMTP server and a Standard Webhooks HTTPS receiver.
"""

import contextlib
import os
import re
import secrets
import shlex
import signal
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from cryptography.fernet import Fernet

from tests.testenv import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
HOST = "portal.smoke.test"  # the public name; requests reach gunicorn on 127.0.0.1
ORIGIN = f"https://{HOST}"
WEB_WORKERS = "2"
SUPERUSER = {"username": "smoke-admin", "email": "admin@smoke.example"}


# --- The README's steps -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    line: str  # as written in the README, comment removed
    argv: tuple[str, ...]

    @property
    def kind(self) -> str:
        """'manage <command>', 'gunicorn', 'celery worker' or 'celery beat'."""
        if self.argv[:2] == ("python", "manage.py"):
            return f"manage {self.argv[2]}"
        if self.argv[0] == "gunicorn":
            return "gunicorn"
        if self.argv[0] == "celery" and "worker" in self.argv:
            return "celery worker"
        if self.argv[0] == "celery" and "beat" in self.argv:
            return "celery beat"
        raise ValueError(f"the smoke test does not know how to run this README step: {self.line}")


def readme_steps(text: str | None = None) -> list[Step]:
    """The commands of the first ```sh block under "## Running in production"."""
    text = README.read_text() if text is None else text
    section = text.split("\n## Running in production\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    steps = []
    for raw in block.splitlines():
        line = raw.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            steps.append(Step(line, tuple(shlex.split(line))))
    return steps


def gunicorn_argv(step: Step, port: int) -> list[str]:
    """The README's gunicorn line (with its configuration file, deploy/gunicorn.conf.py),
    a loopback port and the CI's worker count: flags that win over the file."""
    argv = list(step.argv)
    assert argv[argv.index("-c") + 1] == "deploy/gunicorn.conf.py", step.line
    for flag, value in (("-b", f"127.0.0.1:{port}"), ("-w", WEB_WORKERS)):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


# --- The environment --------------------------------------------------------------------


def production_env(*, database_url: str, redis_port: int, smtp_port: int, var_dir: Path):
    """Production settings: DEBUG off, real secrets, PostgreSQL, Redis, SMTP, HTTPS."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in TEST_ENV and name != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env |= {
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONUNBUFFERED": "1",
        "DEBUG": "0",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": HOST,
        "PORTAL_BASE_URL": ORIGIN,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/1",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "DEFAULT_FROM_EMAIL": f"Lead Portal <leads@{HOST}>",
        # gunicorn sits behind a TLS-terminating proxy; the test client plays the proxy.
        "BEHIND_TLS_PROXY": "1",
        "STATIC_MANIFEST": "1",
        "SECURE_SSL_REDIRECT": "1",
        "CRM_ALLOW_PRIVATE_TARGETS": "0",
        "VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
    }
    return env


def smoke_database_url() -> str:
    """The test run's PostgreSQL server, with a database name of the smoke test's own."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path=f"{url.path}_smoke").geturl()


def _admin_connection(database_url: str):
    url = urlsplit(database_url)
    return psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True)


def database_create(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with _admin_connection(database_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def database_drop(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with _admin_connection(database_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Processes ----------------------------------------------------------------------------


@dataclass
class Processes:
    """Long-running processes, each in its own process group, logs in `logs`."""

    logs: Path
    running: dict[str, subprocess.Popen] = field(default_factory=dict)

    def run(self, argv, *, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self, name: str, argv, *, env: dict) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115  (the child owns it)
        self.running[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def assert_running(self) -> None:
        for name, process in self.running.items():
            assert process.poll() is None, f"{name} exited:\n{self.log(name)[-3000:]}"

    def stop_all(self) -> None:
        """SIGTERM every group, then SIGKILL what is left after 10 s."""
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_until(predicate, *, seconds: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


# --- HTTP through the "proxy" -------------------------------------------------------------


class Visitor:
    """One browser session: requests reach gunicorn as a TLS proxy forwards them (the
    public Host and `X-Forwarded-Proto: https`); forms carry the CSRF token and an https
    Referer of the public origin, as a browser's would.

    The session keeps its own cookies: a standard cookie jar (rightly) never sends a
    Secure cookie over http://, and here the client stands for the proxy, which got them
    over HTTPS. Every request carries them; a Set-Cookie with Max-Age=0 removes one.
    """

    def __init__(self, port: int, *, language: str = "en") -> None:
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Host": HOST, "X-Forwarded-Proto": "https", "Accept-Language": language},
            timeout=60,
            event_hooks={"request": [self._send_cookies], "response": [self._keep_cookies]},
        )

    def _send_cookies(self, request: httpx.Request) -> None:
        if self.cookies:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value, *attributes = rest.split(";")
            if any(a.strip().lower() == "max-age=0" for a in attributes):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip().strip('"')

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post_form(self, path: str, data: dict, *, referer_path: str | None = None):
        token = self.cookies.get("csrftoken")
        assert token, "no CSRF cookie: GET the form first"
        return self.client.post(
            path,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{ORIGIN}{referer_path or path}"},
        )

    def log_in(self, username: str, password: str) -> None:
        form = self.get("/accounts/login/")
        assert form.status_code == 200, form.status_code
        answer = self.post_form("/accounts/login/", {"username": username, "password": password})
        assert answer.status_code == 302, (answer.status_code, answer.text[:2000])
        assert self.cookies.get("sessionid")

    def close(self) -> None:
        self.client.close()
