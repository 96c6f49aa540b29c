"""The erase service tells every CRM that received the person, each as its erasure mode
says, through the real outbox and the contract receivers (crm's erasure deliveries):
Marketo and Dynamics 365 delete, Azure Table deletes its entities, Salesforce is
notified by email, the HTTPS endpoint gets a signed lead.erased event."""

import pytest
from azure.data.tables import TableClient

from crm.connectors import http_client, signing
from crm.connectors.token_cache import default_cache
from crm.models import Delivery
from leads.models import Lead
from privacy import services
from tests.crm.conftest import trusted_loopback  # noqa: F401  (fixture)
from tests.crm.erasure_support import MARKERS, deliver, drain, make_person
from tests.crm.receivers import dynamics_receiver, marketo_receiver
from tests.crm.receivers.azurite import azurite  # noqa: F401  (fixture)
from tests.crm.receivers.dynamics_receiver import ALTERNATE_KEY, DynamicsReceiver
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.crm.receivers.marketo_receiver import MarketoReceiver
from tests.factories import make_delivery, make_target
from tests.leads.nurture_support import smtp  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.no_sqlite, pytest.mark.slow]

CONTACT = "crm-admin@pub.example"
SECRET = signing.secret_generate()


@pytest.fixture
def receivers(settings, trusted_loopback):  # noqa: F811
    # Dynamics, Marketo and Azurite speak plain HTTP on loopback; the HTTPS endpoint TLS.
    settings.DEBUG = True
    with (
        dynamics_receiver.running(DynamicsReceiver()) as dynamics,
        marketo_receiver.running(MarketoReceiver()) as marketo,
        HttpsReceiver(SECRET) as https,
    ):
        yield dynamics, marketo, https
    http_client.clients_close()
    default_cache.clear()


def _target(publisher, kind, config, mode="notify"):
    return make_target(
        publisher=publisher,
        kind=kind,
        name=f"{kind} CRM",
        config={**config, "contactEmail": [CONTACT]},
        erasure_mode=mode,
    )


def test_every_recipient_gets_its_erasure_call(publisher, receivers, azurite, smtp):  # noqa: F811
    # Given a person delivered for real to five CRMs, one of each kind
    dynamics, marketo, https = receivers
    targets = {
        "dynamics365": _target(
            publisher, "dynamics365", dynamics.config(alternateKey=ALTERNATE_KEY), "delete"
        ),
        "marketo": _target(publisher, "marketo", marketo.config(), "delete"),
        "azure-table": _target(
            publisher, "azure-table", {"storageAccountConnectionString": azurite}, "delete"
        ),
        "https": _target(
            publisher, "https", {"httpsEndpointUrl": https.url("/in"), "signingSecret": SECRET}
        ),
        "salesforce": _target(publisher, "salesforce", {"objectIdentifier": "00D000000000001"}),
    }
    lead = make_person(publisher=publisher)
    for kind, target in targets.items():
        if kind == "salesforce":  # Web-to-Lead answers nothing to check; the row says delivered
            make_delivery(
                lead=lead, target=target, status="delivered", delivered_at=lead.created_at
            )
        else:
            deliver(lead, target)
    table = TableClient.from_connection_string(azurite, table_name="MarketplaceLeads")
    assert list(table.query_entities(f"PartitionKey eq '{publisher.publisher_id}'"))

    # When the person is erased through the privacy service, and the outbox drains
    report = services.person_erase(
        email=MARKERS["email"], publisher=publisher, actor=None, reason="Art. 17", source="admin"
    )
    for target in targets.values():
        drain(target)

    # Then each recipient was told, as its mode says, and each erasure settled
    assert sorted(r["kind"] for r in report.recipients) == sorted(targets)
    assert [m for m, _path in dynamics.erasure_calls] == ["GET", "DELETE"]
    assert dynamics.records == {}
    assert marketo.lookups == [[MARKERS["email"]]]
    assert marketo.leads == {}
    assert list(table.query_entities(f"PartitionKey eq '{publisher.publisher_id}'")) == []
    event = next(e for e in https.effects.values() if e.get("Event") == "lead.erased")
    assert event["LeadId"] == str(lead.uuid)
    (notice,) = smtp.received
    assert CONTACT in notice.recipients
    erasures = Delivery.objects.filter(lead=lead, event=Delivery.Event.ERASED)
    assert {(row.target.kind, row.status, row.outcome) for row in erasures} == {
        ("dynamics365", "delivered", "deleted"),
        ("marketo", "delivered", "deleted"),
        ("azure-table", "delivered", "deleted"),
        ("https", "delivered", "signalled"),
        ("salesforce", "delivered", "notified"),
    }
    assert [row.lookup for row in erasures] == [{}] * 5  # wiped once settled
    assert Lead.objects.get(pk=lead.pk).email == f"erased-{lead.uuid}@erased.invalid"
