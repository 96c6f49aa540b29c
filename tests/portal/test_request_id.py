"""Request ids and JSON logs (portal/observability.py): the id of the request that brought
a lead in is on the log lines of the worker that delivers it."""

import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from django.core.exceptions import ImproperlyConfigured

from crm import services as crm_services
from crm.connectors import signing
from crm.models import Delivery
from portal import observability, observability_config
from tests.brokers import broker_switched
from tests.chaos.harness import Processes, worker_env
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_target
from tests.leads.conftest import Storefronts, lead_payload
from tests.portal.process_support import wait_for

SECRET = signing.secret_generate()


def test_a_well_formed_incoming_id_is_kept_and_returned(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")

    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"


@pytest.mark.parametrize("incoming", [None, "short", "x" * 65, "has space in it", "bad\nline-0001"])
def test_a_missing_or_malformed_id_is_replaced_by_a_new_one(client, db, incoming):
    headers = {"HTTP_X_REQUEST_ID": incoming} if incoming is not None else {}

    response = client.get("/healthz", **headers)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_each_request_gets_its_own_id(client, db):
    ids = {client.get("/healthz")["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def _record(message="crm.delivery.delivered", **extra) -> logging.LogRecord:
    record = logging.LogRecord("crm.services", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_the_time_level_logger_message_request_id_and_extras():
    token = observability.request_id.set("trace-abcdef-01")
    try:
        record = _record(target_id=7, count=3)
        observability.RequestIdFilter().filter(record)
        line = json.loads(observability.JsonFormatter().format(record))
    finally:
        observability.request_id.reset(token)

    assert line["level"] == "INFO"
    assert line["logger"] == "crm.services"
    assert line["message"] == "crm.delivery.delivered"
    assert line["request_id"] == "trace-abcdef-01"
    assert (line["target_id"], line["count"]) == (7, 3)
    assert line["time"].endswith("+00:00")


def test_a_json_line_leaves_out_django_requests_request_and_its_path():
    record = _record("Bad Request: /api/v1/inbound/partner-center/…/", request=object())

    line = json.loads(observability.JsonFormatter().format(record))

    assert "request" not in line


def test_log_format_json_and_a_wrong_value():
    config = observability_config.logging_config(log_format="json", level="INFO")

    assert config["handlers"]["console"]["formatter"] == "json"
    assert "request_id" in config["handlers"]["console"]["filters"]
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        observability_config.logging_config(log_format="xml", level="INFO")


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_the_delivery_tasks_log_lines_carry_the_intake_requests_id(own_redis, tmp_path):
    # Given a publisher whose CRM is a loopback receiver, and a worker logging JSON lines
    market = Storefronts()
    with HttpsReceiver(SECRET) as receiver:
        target = make_target(
            publisher=market.publisher,
            config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
        )
        env = worker_env(own_redis, tmp_path) | {"LOG_FORMAT": "json"}
        processes = Processes(env, tmp_path)
        processes.start_worker(wait_ready=True)
        crm_services._wake.connection = None
        try:
            # When a lead is posted with a request id
            with broker_switched(f"redis://127.0.0.1:{own_redis.port}/0"):
                response = market.post(lead_payload(), HTTP_X_REQUEST_ID="intake-trace-0001")
                crm_services._wake.connection = None
            assert response.status_code == 201
            assert wait_for(
                lambda: Delivery.objects.filter(target=target, status="delivered").exists(),
                seconds=60,
            )
        finally:
            processes.stop()
    log = (tmp_path / "worker.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]

    # Then the worker's line for the delivery carries the id, and no line the lead's email
    delivered = [line for line in lines if line["message"] == "crm.delivery.delivered"]
    assert [line["request_id"] for line in delivered] == ["intake-trace-0001"]
    assert delivered[0]["target_id"] == target.pk
    assert "ada@contoso.example" not in log
    assert "Lovelace" not in log


@pytest.mark.no_sqlite
def test_runserver_prints_its_access_line_for_a_2xx_answer(tmp_path):
    # Given runserver, as `make run` starts it with its embedded defaults
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env |= {"DEBUG": "1", "VAR_DIR": str(tmp_path), "LOG_FORMAT": "plain"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    access = '"GET /healthz HTTP/1.1" 200'
    try:
        # When a client gets a 200 from it
        answered = wait_for(lambda: _status(f"http://127.0.0.1:{port}/healthz") == 200)
        printed = wait_for(lambda: [line for line in output if access in line], seconds=10)
        refused = _status(f"http://127.0.0.1:{port}/api/v1/leads", data=b"{}")
        wait_for(lambda: any('"POST /api/v1/leads HTTP/1.1" 401' in line for line in output))
    finally:
        server.terminate()
        server.wait(timeout=30)

    # Then its access line is printed, with the request id, not only 4xx and 5xx lines
    assert answered, "".join(output)[-3000:]
    assert printed, "".join(output)[-3000:]
    assert re.search(r" INFO django\.server \[[0-9a-f-]{1,36}\] ", printed[0])
    # and a 4xx is told once, not again by Django's own console handler
    assert refused == 401
    assert sum("Unauthorized: /api/v1/leads" in line for line in output) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(url: str, data: bytes | None = None) -> int | None:
    try:
        with urllib.request.urlopen(url, data=data, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
