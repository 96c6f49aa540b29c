"""The demo app is installed with DEBUG on or DEMO_ENABLED set, and is absent otherwise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import get_commands
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent.parent
# Run inside a fresh process, with the settings that its environment gives.
PROBE = (
    "from django.apps import apps; from django.core.management import get_commands; "
    "from django.test import Client; "
    "print(apps.is_installed('demo'), get_commands().get('seed_demo'), "
    "Client().post('/demo/receiver/', {}).status_code)"
)


def _portal(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DEMO_ENABLED"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_suite_runs_with_the_demo_installed():
    assert apps.is_installed("demo")
    assert get_commands()["seed_demo"] == "demo"
    assert get_commands()["simulate_storefront"] == "demo"
    assert reverse("demo-receiver") == "/demo/receiver/"


@pytest.mark.slow
def test_without_debug_or_demo_enabled_the_demo_is_absent():
    probe = _portal("shell", "--no-imports", "-c", PROBE, DEBUG="0")
    seed = _portal("seed_demo", "--leads", "0", DEBUG="0")

    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["False", "None", "404"]
    assert seed.returncode == 1
    assert "Unknown command: 'seed_demo'" in seed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("env", [{"DEBUG": "0", "DEMO_ENABLED": "1"}, {"DEBUG": "1"}])
def test_demo_enabled_or_debug_installs_it(env):
    probe = _portal("shell", "--no-imports", "-c", PROBE, **env)

    assert probe.returncode == 0, probe.stderr
    # An unsigned post reaches the receiver, which refuses it.
    assert probe.stdout.split() == ["True", "demo", "401"]


@pytest.mark.slow
def test_demo_enabled_off_keeps_it_out_even_with_debug():
    probe = _portal("shell", "--no-imports", "-c", PROBE, DEBUG="1", DEMO_ENABLED="0")

    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["False", "None", "404"]
