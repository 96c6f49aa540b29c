"""deploy/: the Procfile and the systemd units start commands that exist, with options
their programs know, on queues the settings define; every queue is consumed, beat runs
once; every setting is in the example env file; gunicorn starts with the configuration
and its access log holds no query string, token or client address."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from celery.bin.beat import beat as beat_command
from celery.bin.celery import celery as celery_command
from celery.bin.worker import worker as worker_command
from django.conf import settings
from django.core.management import get_commands
from django.db import connection

from tests.chaos.harness import free_port
from tests.production import layout
from tests.production.deployment import Processes, wait_until
from tests.production.layout import DEPLOY, INSTALL_ROOT, ROOT, SYSTEMD, Command

VENV_BIN = Path(sys.executable).parent
QUEUES = set(settings.CELERY_TASK_QUEUES)
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def _options(command) -> set[str]:
    return {option for param in command.params for option in param.opts}


def _check(command: Command) -> None:
    """The program is installed, its options exist, its files and queues too."""
    assert (VENV_BIN / command.program).exists(), f"{command.source}: no {command.program}"
    if command.program == "gunicorn":
        config = command.option("-c", "--config")
        assert config and (ROOT / config).is_file(), f"{command.source}: config {config}"
        assert command.argv[-1] == "portal.wsgi"
        return
    assert command.program == "celery", command.source
    assert command.option("-A", "--app") == "portal"
    known = _options(celery_command) | _options(
        worker_command if command.celery_command == "worker" else beat_command
    )
    flags = [word for word in command.argv if word.startswith("-")]
    assert set(flags) <= known, f"{command.source}: unknown options {set(flags) - known}"
    assert command.queues <= QUEUES, f"{command.source}: no queue {command.queues - QUEUES}"


def test_the_procfile_starts_web_a_worker_per_queue_and_one_beat():
    commands = layout.procfile()

    for command in commands:
        _check(command)
    workers = [c for c in commands if c.celery_command == "worker"]
    assert [c.program for c in commands].count("gunicorn") == 1
    assert [c.celery_command for c in commands].count("beat") == 1
    assert [c.queues for c in workers] == [{q} for q in ("delivery", "nurture", "celery")]
    hostnames = [c.option("-n", "--hostname") for c in workers]
    assert len(set(hostnames)) == len(workers) and all(hostnames)


def test_the_systemd_target_starts_web_a_worker_per_queue_and_one_beat():
    commands = [layout.unit_command(unit) for unit in layout.target_units()]

    for command in commands:
        assert command.argv[0].startswith(f"{INSTALL_ROOT}/.venv/bin/"), command.source
        _check(command)
    workers = [c for c in commands if c.celery_command == "worker"]
    assert {frozenset(c.queues) for c in workers} == {frozenset({q}) for q in QUEUES}
    assert [c.celery_command for c in commands].count("beat") == 1
    assert [c.program for c in commands].count("gunicorn") == 1
    assert len({c.option("-n") for c in workers}) == len(workers)


@pytest.mark.parametrize("path", sorted(SYSTEMD.glob("*.service")), ids=lambda p: p.name)
def test_each_service_reads_the_env_file_restarts_and_is_hardened(path):
    service = {k: v for s, k, v in layout.unit_entries(path) if s == "Service"}

    assert layout.unit_values(path, "EnvironmentFile") == ["/etc/leadportal/env"]
    assert service["Restart"] in {"always", "on-failure"}
    assert service["User"] == "leadportal"
    assert service["WorkingDirectory"] == INSTALL_ROOT
    assert {k: service.get(k) for k in HARDENING} == HARDENING
    assert layout.unit_values(path, "WantedBy", "Install") == ["leadportal.target"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path):
    """systemd-analyze verify, on copies whose paths point at this checkout."""
    for path in SYSTEMD.iterdir():
        text = path.read_text().replace(f"{INSTALL_ROOT}/.venv/bin", str(VENV_BIN))
        (tmp_path / path.name).write_text(text.replace(INSTALL_ROOT, str(ROOT)))
    units = [
        str(tmp_path / name)
        for name in ("leadportal-web.service", "leadportal-beat.service", "leadportal.target")
    ]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if str(tmp_path) in line and "leadportal-worker@" not in line
    ]
    assert not problems, result.stderr


# `env.str("NAME"`, `Env().int("NAME"`, `environ.get("NAME"`, `_int("NAME"`, …
SETTING_READ = re.compile(
    r'(?:\benv(?:\.\w+)?|Env\(\)\.\w+|os\.environ\.get|\b_int|_required_in_production)\(\s*"([A-Z][A-Z0-9_]+)"'
)


def _setting_names() -> set[str]:
    names = set()
    for module in ("portal/settings.py", "portal/mail_config.py", "deploy/gunicorn.conf.py"):
        text = (ROOT / module).read_text()
        names |= set(SETTING_READ.findall(text))
    return names


def test_the_example_env_file_lists_every_setting():
    text = (DEPLOY / "env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    names = _setting_names()

    assert {"SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY", "VAR_DIR"} <= names
    assert names - listed == set()
    required = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL"} <= required


def test_the_release_steps_name_commands_that_exist():
    for word in ("collectstatic", "compilemessages", "check", "migrate", "replay_erasures"):
        assert word in get_commands()


@pytest.mark.django_db
def test_gunicorn_starts_with_the_config_and_logs_no_query_string_or_token(tmp_path):
    database = connection.settings_dict
    port = free_port()
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    (metrics / "stale.db").write_bytes(b"from a previous run")
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "VAR_DIR": str(tmp_path / "var"),
    }
    processes = Processes(tmp_path)
    (web,) = [c.argv for c in layout.procfile() if c.program == "gunicorn"]
    processes.start("web", [str(VENV_BIN / web[0]), *web[1:]], env=env)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

        def up() -> bool:
            processes.assert_running()
            try:
                return client.get("/healthz").status_code in (200, 503)
            except httpx.TransportError:
                return False

        wait_until(up, seconds=20, what="gunicorn with deploy/gunicorn.conf.py")
        client.get("/accounts/login/?next=/leads/&email=someone%40secret.example")
        client.post("/api/v1/inbound/partner-center/tok3nSECRETvalue/", content=b"{}")
        client.close()
        time.sleep(0.5)
    finally:
        processes.stop_all()
    log = processes.log("web")
    assert "Booting worker" in log
    assert '"GET /accounts/login/" 200' in log
    assert '"POST /api/v1/inbound/partner-center/…/"' in log
    for secret in ("secret.example", "next=", "tok3nSECRETvalue", "127.0.0.1 -"):
        assert secret not in log
    assert not (metrics / "stale.db").exists()  # the multiprocess folder starts empty


def test_a_shell_loads_the_example_env_file_as_systemd_does():
    text = (DEPLOY / "env.example").read_text()
    loaded = subprocess.run(
        ["bash", "-c", f'set -a; . "{DEPLOY / "env.example"}"; set +a; env -0'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    values = dict(item.split("=", 1) for item in loaded.split("\0") if "=" in item)

    for name, value in re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", text, re.MULTILINE):
        assert values[name] == value.strip('"'), name
