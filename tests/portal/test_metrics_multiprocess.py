"""Workers' counters reach the scrape (docs/operations.md, "Metrics"): a real Celery worker
with PROMETHEUS_MULTIPROC_DIR writes its pool processes' series to that folder, where a web
process's /metrics sums them, and its own exporter (METRICS_WORKER_PORT) serves them."""

import httpx
import pytest

from crm import services as crm_services
from crm.connectors import signing
from crm.models import Delivery
from tests.brokers import broker_switched
from tests.chaos.harness import Processes, free_port, worker_env
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_target
from tests.leads.conftest import Storefronts, lead_payload
from tests.portal.metrics_support import samples_of, scrape, value
from tests.portal.process_support import wait_for

SECRET = signing.secret_generate()
DELIVERED = {"kind": "https", "outcome": "delivered"}


def _exporter_samples(port: int) -> dict:
    response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    response.raise_for_status()
    return samples_of(response.text)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_workers_delivery_is_counted_in_the_shared_folder_and_on_its_port(
    own_redis, tmp_path, client, monkeypatch
):
    # Given a worker whose pool processes keep their series in a folder of this machine
    folder, port = tmp_path / "prometheus", free_port()
    folder.mkdir()
    market = Storefronts()
    with HttpsReceiver(SECRET) as receiver:
        target = make_target(
            publisher=market.publisher,
            config={"httpsEndpointUrl": receiver.url("/in"), "signingSecret": SECRET},
        )
        env = worker_env(own_redis, tmp_path) | {
            "PROMETHEUS_MULTIPROC_DIR": str(folder),
            "METRICS_WORKER_PORT": str(port),
        }
        processes = Processes(env, tmp_path)
        processes.start_worker(wait_ready=True)
        crm_services._wake.connection = None
        try:
            # When a lead is posted and the worker delivers it
            with broker_switched(f"redis://127.0.0.1:{own_redis.port}/0"):
                assert market.post(lead_payload()).status_code == 201
                crm_services._wake.connection = None
            assert wait_for(
                lambda: Delivery.objects.filter(target=target, status="delivered").exists(),
                seconds=60,
            )
            on_its_port = _exporter_samples(port)
        finally:
            processes.stop()

    # Then the worker's exporter served the delivery
    assert value(on_its_port, "leadportal_deliveries_total", **DELIVERED) == 1
    # And a web process of the same machine (same folder) sums it into its /metrics
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    assert value(scrape(client), "leadportal_deliveries_total", **DELIVERED) == 1
