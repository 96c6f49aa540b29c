"""The `make run` terminal stays readable: the simulator posts slowly enough
that the logins do not scroll away in seconds and writes a line a minute, its deliberate
bad leads log no warning, `make logins` prints the logins again, and Ctrl-C stops every
process before honcho's SIGKILL."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from honcho.manager import KILL_WAIT

from demo import simulation, stop_in_time
from leads.intake import api_keys
from leads.models import ApiKey
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def test_the_simulator_of_make_run_posts_at_most_ten_leads_a_minute():
    (line,) = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("sim:")]
    rate = re.search(r"--rate (\S+)", line).group(1)

    assert simulation.parse_rate(rate) * 60 <= 10


def test_make_logins_prints_the_logins_only():
    dry_run = subprocess.run(
        ["make", "-n", "logins"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert "manage.py seed_demo --quiet" in dry_run


def _procfile_line(name: str) -> str:
    (line,) = [
        ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith(f"{name}:")
    ]
    return line


def test_the_simulator_writes_one_tally_line_a_minute_at_most():
    progress = re.search(r"--progress (\S+)", _procfile_line("sim")).group(1)

    assert float(progress) >= 60


def test_a_deliberate_bad_lead_is_counted_not_warned(client, caplog, db):
    """The simulator marks its bad leads; their 422 is a DEBUG line, any other a warning."""
    key = _storefront_key()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    bad = json.dumps({"UserDetails": {"Email": "not-an-email"}}).encode()

    with caplog.at_level(logging.DEBUG):
        marked = client.post(
            "/api/v1/leads", bad, content_type="application/json", **headers,
            HTTP_X_DEMO_SIMULATOR="bad-lead",
        )  # fmt: skip
        unmarked = client.post("/api/v1/leads", bad, content_type="application/json", **headers)

    assert marked.status_code == unmarked.status_code == 422
    warnings = [r for r in caplog.records if r.name == "django.request"]
    assert [r.levelno for r in warnings] == [logging.WARNING]  # the unmarked one only
    debug = [r for r in caplog.records if r.name == "demo.simulator"]
    assert [(r.levelno, r.getMessage()) for r in debug] == [
        (logging.DEBUG, "demo.simulator.bad_lead_refused")
    ]


def _storefront_key() -> str:
    _api_key, key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="test", storefront="appsource"
    )
    return key


def test_stop_in_time_turns_a_warm_shutdown_that_hangs_into_a_cold_one(tmp_path):
    """A child that ignores SIGTERM (a warm shutdown waiting on a task) gets SIGQUIT after
    WARM_SECONDS, and the wrapper exits 0 well inside honcho's five seconds."""
    marker = tmp_path / "cold"
    child = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: None)\n"
        f"signal.signal(signal.SIGQUIT, lambda *a: (pathlib.Path({str(marker)!r}).touch(), "
        "sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    wrapper = subprocess.Popen(
        [sys.executable, "-m", "demo.stop_in_time", sys.executable, "-c", child],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert wrapper.stdout.readline().strip() == "ready"

    wrapper.send_signal(signal.SIGTERM)

    assert wrapper.wait(timeout=10) == 0
    assert marker.exists()
    assert stop_in_time.WARM_SECONDS + stop_in_time.COLD_SECONDS < KILL_WAIT


SIM_ANSWERED = re.compile(r"sim\.1 +\| sent \d+, 201: [1-9]")


def _lead_answered(line: str) -> bool:
    """The web process answered a lead: its access log line, or the simulator's minute
    line counting 201 answers."""
    return ("web.1" in line and "POST /api/v1/leads" in line) or bool(SIM_ANSWERED.search(line))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.no_sqlite
def test_ctrl_c_stops_every_process_of_make_run_without_a_sigkill(transactional_db, tmp_path):
    """make run's Procfile under honcho, as a newcomer runs it; Ctrl-C is SIGINT to the
    terminal's process group. honcho SIGKILLs whatever outlives its grace period, so no
    "SIGKILL" line and no rc=-9 means every process stopped within it."""
    factories.make_listing(
        status="published", lead_management_enabled=True, published_at=timezone.now()
    )
    port = _free_port()
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        (ROOT / "Procfile").read_text().replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    )
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "-d", str(ROOT), "-f", str(procfile),
         "start"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(honcho.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 240  # a loaded machine starts four Djangos slowly
        while time.monotonic() < deadline and not (
            any(_lead_answered(ln) for ln in lines)
            and any("worker.1" in ln and "ready." in ln for ln in lines)
        ):
            time.sleep(0.5)
        assert any(_lead_answered(ln) for ln in lines), "".join(lines[-40:])

        os.killpg(honcho.pid, signal.SIGINT)
        honcho.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        if honcho.poll() is None:  # a failed wait: honcho still stops its children
            os.killpg(honcho.pid, signal.SIGINT)
            honcho.wait(timeout=30)
    output = "".join(lines)

    assert "SIGKILL" not in output, output[-3000:]
    stopped = dict(re.findall(r"system\s+\| (\w+)\.1 stopped \(rc=(-?\d+)\)", output))
    assert sorted(stopped) == ["beat", "sim", "web", "worker"], output[-3000:]
    assert "-9" not in stopped.values(), stopped
    assert stopped["worker"] == "0" and stopped["sim"] == "0", stopped
