"""Production settings: the deploy check passes, and missing secrets stop the process.

Each test runs `manage.py` in a subprocess with a production-like environment, built
from this process's environment minus the test variables that tests/testenv.py sets.
"""

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.testenv import TEST_ENV

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parents[2]


def _production_env(tmp_path, **overrides: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in TEST_ENV}
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env |= {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_BASE_URL": "https://portal.example.com",
        # The model checks connect (GeneratedField asks the server's version), so the
        # URL names a database that always exists on the PostgreSQL server.
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "EMAIL_URL": "smtp+tls://mailer:mail-password@smtp.example.com:587",
        "VAR_DIR": str(tmp_path / "var"),
        # Set, but empty, so that a developer's .env cannot fill them in (read_env only
        # sets what the environment lacks).
        "CRM_ALLOW_PRIVATE_TARGETS": "",
    }
    env |= overrides
    # None removes a variable altogether.
    return {name: value for name, value in env.items() if value is not None}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = _production_env(tmp_path)
    # The manifest check (portal.E002) needs what collectstatic writes.
    collected = _manage("collectstatic", "--no-input", env=env)
    assert collected.returncode == 0, collected.stdout + collected.stderr

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_deploy_check_refuses_the_file_email_backend(tmp_path):
    # Without EMAIL_URL, mail goes to files under var/: fine for a first run, never
    # for production, where nurture email and delivery alerts must leave the machine.
    env = _production_env(tmp_path, EMAIL_URL=None)

    result = _manage("check", "--deploy", env=env)

    assert result.returncode != 0
    assert "mail.E001" in result.stderr + result.stdout


@pytest.mark.parametrize("name", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_secret(tmp_path, name):
    env = _production_env(tmp_path, **{name: ""})

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert f"{name} is not set" in result.stderr


def test_deploy_check_refuses_private_crm_targets(tmp_path):
    env = _production_env(tmp_path, CRM_ALLOW_PRIVATE_TARGETS="1")

    result = _manage("check", "--deploy", env=env)

    assert result.returncode != 0
    assert "crm.E001" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "backend", "option"),
    [
        ("sendgrid://:SG.key%2Fpart@", "anymail.backends.sendgrid", "api_key=SG.key/part"),
        ("postmark://:server-token@", "anymail.backends.postmark", "server_token=server-token"),
        ("amazonses://", "anymail.backends.amazon_ses", "-"),
    ],
)
def test_email_url_selects_an_esp_through_anymail(tmp_path, url, backend, option):
    env = _production_env(tmp_path, EMAIL_URL=url)
    code = (
        "from django.conf import settings; m = settings.MAILERS['default']; "
        "print(m['BACKEND']); print(';'.join(f'{k}={v}' for k, v in m['OPTIONS'].items()) or '-')"
    )

    result = _manage("shell", "-c", code, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == [f"{backend}.EmailBackend", option]


@pytest.mark.parametrize(("value", "expected"), [(None, "10000"), ("0", "None"), ("250", "250")])
def test_celery_replaces_a_pool_process_after_the_configured_number_of_tasks(
    tmp_path, value, expected
):
    # Given the production environment, with WORKER_MAX_TASKS_PER_CHILD unset, 0 or set
    env = _production_env(tmp_path, WORKER_MAX_TASKS_PER_CHILD=value)

    # When the Celery app reads its configuration
    result = _manage(
        "shell",
        "-c",
        "from portal.celery import app; print(app.conf.worker_max_tasks_per_child)",
        env=env,
    )

    # Then a pool process is replaced after that many tasks (0: never)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
