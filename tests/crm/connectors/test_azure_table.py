"""Azure Table connector against Azurite (started by tests/crm/receivers/azurite.py)."""

import json
import uuid

import pytest
import requests
from azure.data.tables import TableClient, TableServiceClient

from crm.connectors import DeliveryPayload, SendOptions, azure_transport, http_client
from crm.connectors.azure_table import AzureTableConnector
from tests.crm.connectors import make_payload
from tests.crm.receivers import Answer
from tests.crm.receivers.azurite import ACCOUNT_KEY, running_azurite
from tests.crm.receivers.redirect_receiver import RedirectReceiver

# These receivers speak plain HTTP on loopback.
LOOPBACK = SendOptions(allow_private_targets=True, require_https=False)
connector = AzureTableConnector()


def make_lead(n: int = 1, **overrides) -> DeliveryPayload:
    """A distinct lead: its own delivery id, lead id, first name and email."""
    fields = {
        "delivery_id": str(uuid.uuid4()),
        "lead_id": str(uuid.uuid4()),
        "first_name": f"Ada{n}",
        "email": f"ada{n}@example.com",
    }
    return make_payload(**{**fields, **overrides})


@pytest.fixture(scope="module")
def azurite():
    with running_azurite() as connection_string:
        yield connection_string


def entities(connection_string: str, table_name: str) -> list[dict]:
    with TableServiceClient.from_connection_string(connection_string) as service:
        return list(service.get_table_client(table_name).list_entities())


def table_names(connection_string: str) -> list[str]:
    with TableServiceClient.from_connection_string(connection_string) as service:
        return sorted(table.name for table in service.list_tables())


def test_150_leads_create_the_table_in_two_transactions_and_a_retry_replaces(azurite, monkeypatch):
    # Given 150 leads and no table yet; transactions are counted
    leads = [make_lead(n) for n in range(150)]
    config = {"storageAccountConnectionString": azurite, "tableName": "LeadsFirst"}
    sizes = []
    submit = TableClientSpy.install(monkeypatch, sizes)

    # When they are sent, then sent again (a retry with the same delivery ids)
    first = connector.send(config, leads, LOOPBACK)
    retried = connector.send(config, leads, LOOPBACK)

    # Then the table exists, and each send took two transactions (100 + 50)
    assert "LeadsFirst" in table_names(azurite)
    assert sizes == [100, 50, 100, 50]
    assert submit.calls == 4
    assert [r.outcome for r in first + retried] == ["delivered"] * 300
    # And there are still exactly 150 entities, keyed by publisher and delivery id
    stored = entities(azurite, "LeadsFirst")
    assert len(stored) == 150
    assert {(e["PartitionKey"], e["RowKey"]) for e in stored} == {
        ("contoso", lead.delivery_id) for lead in leads
    }


def test_entity_has_the_legacy_and_the_additive_columns(azurite):
    # Given one lead with a constant extra field
    lead = make_lead(7, extra_fields={"Campaign": "spring", "RowKey": "never-this"})
    config = {"storageAccountConnectionString": azurite}

    # When it is sent to the default table
    (result,) = connector.send(config, [lead], LOOPBACK)

    # Then MarketplaceLeads holds Partner Center's columns, then ours
    assert result.outcome == "delivered"
    (entity,) = entities(azurite, "MarketplaceLeads")
    assert dict(entity) == {
        "PartitionKey": "contoso",
        "RowKey": lead.delivery_id,
        "ProductId": "contoso.crm-connector",
        "CustomerInfo": (
            '{"FirstName":"Ada7","LastName":"Okafor","Email":"ada7@example.com",'
            '"Phone":"+44 20 7946 0000","Country":"GB","Company":"Fabrikam Ltd",'
            '"Title":"Head of IT"}'
        ),
        "LeadSource": "AppSource-PLT|Contoso CRM Connector",
        "ActionCode": "PLT",
        "PublisherDisplayName": "Contoso",
        "OfferDisplayName": "Contoso CRM Connector",
        "CreatedTime": "2026-03-01T09:30:00+00:00",
        "Description": "Wants a trial for 50 seats",
        "FirstName": "Ada7",
        "LastName": "Okafor",
        "Email": "ada7@example.com",
        "Phone": "+44 20 7946 0000",
        "Country": "GB",
        "Company": "Fabrikam Ltd",
        "Title": "Head of IT",
        "Score": 72,
        "Status": "qualified",
        "Storefront": "appsource",
        "Event": "lead.qualified",
        "Campaign": "spring",
    }
    assert json.loads(entity["CustomerInfo"])["Email"] == "ada7@example.com"


def test_leads_of_two_publishers_go_in_one_transaction_per_partition(azurite, monkeypatch):
    leads = [make_lead(1), make_lead(2, publisher_id="fabrikam"), make_lead(3)]
    config = {"storageAccountConnectionString": azurite, "tableName": "LeadsTwoPublishers"}
    sizes = []
    TableClientSpy.install(monkeypatch, sizes)

    results = connector.send(config, leads, LOOPBACK)

    assert [r.outcome for r in results] == ["delivered"] * 3
    assert sizes == [2, 1]
    stored = entities(azurite, "LeadsTwoPublishers")
    assert sorted(e["PartitionKey"] for e in stored) == ["contoso", "contoso", "fabrikam"]


def test_an_entity_the_service_refuses_is_permanent_and_the_others_are_written(azurite):
    # Given three leads, the second with a constant extra field too large for a property
    leads = [
        make_lead(1, extra_fields={"Tags": ["a", "b"]}),
        make_lead(2, extra_fields={"Notes": "x" * 40_000}),
        make_lead(3),
    ]
    config = {"storageAccountConnectionString": azurite, "tableName": "LeadsOneRefused"}

    # When they are sent in one transaction
    results = connector.send(config, leads, LOOPBACK)

    # Then the second is permanent with the service's reason; the others are stored
    assert [(r.outcome, r.status_code) for r in results] == [
        ("delivered", 204),
        ("permanent", 400),
        ("delivered", 204),
    ]
    assert results[1].error.startswith(
        "Azure Table answered HTTP 400: PropertyValueTooLarge: The property value exceeds"
    )
    stored = {e["RowKey"]: e for e in entities(azurite, "LeadsOneRefused")}
    assert sorted(stored) == sorted([leads[0].delivery_id, leads[2].delivery_id])
    assert stored[leads[0].delivery_id]["Tags"] == '["a", "b"]'


# The SDK tests an XML element's truth value while reading the error (its own warning).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:azure.data.tables._error")
def test_a_wrong_account_key_is_permanent_and_nothing_is_written(azurite):
    # Given a connection string with another (valid base64) account key
    wrong_key = ACCOUNT_KEY.replace("Eby8", "AAAA")
    config = {
        "storageAccountConnectionString": azurite.replace(ACCOUNT_KEY, wrong_key),
        "tableName": "LeadsWrongKey",
    }

    # When two leads are sent
    results = connector.send(config, [make_lead(1), make_lead(2)], LOOPBACK)

    # Then both are permanent with a readable reason holding no key; no table was made
    assert [(r.outcome, r.status_code) for r in results] == [("permanent", 403)] * 2
    assert results[0].error == (
        "the storage account refused the credentials (AuthorizationFailure): "
        "check the connection string's account key"
    )
    assert wrong_key not in results[0].error
    assert "LeadsWrongKey" not in table_names(azurite)


def test_an_unreachable_account_is_retryable():
    port_with_nothing = "http://127.0.0.1:9/devstoreaccount1"
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
        f"TableEndpoint={port_with_nothing};"
    )

    (result,) = connector.send(
        {"storageAccountConnectionString": connection}, [make_lead()], LOOPBACK
    )

    assert result.outcome == "retryable"
    assert result.error == "could not reach Azure Table (ServiceRequestError); nothing was sent"


def test_every_request_goes_through_the_guarded_client_and_none_through_requests(
    azurite, monkeypatch
):
    # Given the SDK's own requests transport made unusable, and our client's requests counted
    def refuse(*args, **kwargs):
        raise AssertionError("the SDK's requests transport was used")

    monkeypatch.setattr(requests.Session, "request", refuse)
    sent = []
    original = http_client.request

    def counting_request(**kwargs):
        sent.append((kwargs["kind"], kwargs["method"]))
        return original(**kwargs)

    monkeypatch.setattr(http_client, "request", counting_request)
    config = {"storageAccountConnectionString": azurite, "tableName": "LeadsGuarded"}

    # When two leads are sent
    results = connector.send(config, [make_lead(1), make_lead(2)], LOOPBACK)

    # Then they are stored, with one table creation and one transaction, both ours
    assert [r.outcome for r in results] == ["delivered", "delivered"]
    assert sent == [("azure-table", "POST"), ("azure-table", "POST")]
    monkeypatch.undo()  # the test's own reads use the SDK's default transport
    assert len(entities(azurite, "LeadsGuarded")) == 2


def test_an_answer_longer_than_the_cap_is_not_read_and_is_retryable(monkeypatch):
    # Given an account that answers 201 with more than the cap (a small cap for the test)
    monkeypatch.setattr(azure_transport, "MAX_ANSWER_BYTES", 1024)
    with OversizedAnswer() as account:
        account.answer_with(Answer(201, body=b"x" * 1025))

        # When a lead is sent
        (result,) = connector.send(
            {"storageAccountConnectionString": account.connection_string}, [make_lead()], LOOPBACK
        )

    # Then the answer is refused unread (never handed to the SDK's parser), and retried later
    assert result.outcome == "retryable"
    assert result.error == (
        "Azure Table's answer failed (the answer was longer than 1024 bytes: not read); "
        "the lead may have been written"
    )
    assert len(account.requests) == 1


class OversizedAnswer(RedirectReceiver):
    """Answers its scripted answers (a body bigger than the cap) to every request."""

    def __init__(self) -> None:
        super().__init__(status=200, location="")

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={ACCOUNT_KEY};TableEndpoint={self.url('/devstoreaccount1')};"
        )

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        answer = self.next_answer()
        return answer.status, {"Content-Type": "application/json"}, answer.body, 0.0, ""


class TableClientSpy:
    """Counts TableClient.submit_transaction calls and their sizes, then calls through."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes, self.calls = sizes, 0

    @classmethod
    def install(cls, monkeypatch, sizes: list[int]) -> "TableClientSpy":
        spy = cls(sizes)
        original = TableClient.submit_transaction

        def submit_transaction(table, operations, **kwargs):
            operations = list(operations)
            spy.calls += 1
            spy.sizes.append(len(operations))
            return original(table, operations, **kwargs)

        monkeypatch.setattr(TableClient, "submit_transaction", submit_transaction)
        return spy
