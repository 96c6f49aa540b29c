"""S2 for Azure Table: the SDK sends through the guarded client, so a connection string
naming a non-public endpoint is refused at save and at connect time, and the canary on
loopback proves that nothing was connected to.
"""

import socket
import threading
from http import HTTPStatus

import pytest

from crm.connectors import azure_table, ssrf
from crm.connectors.base import SendOptions
from crm.models import CrmTarget
from crm.portal_forms import PortalTargetForm
from tests import factories
from tests.crm.connectors import make_payload
from tests.crm.connectors.ssrf_support import GUARDED, PUBLIC_V4, PUBLIC_V6, resolve_test_names
from tests.crm.receivers.redirect_receiver import RedirectReceiver

pytestmark = pytest.mark.usefixtures("guarded_clients")


# --- Azure Table: the SDK sends through the guarded client ------------------------------

# Azurite's documented development key: a well-formed key that opens nothing real.
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STAND_IN_PUBLIC = "127.0.0.2"  # plays a public address: the tests never leave loopback


def _azure_connection(endpoints: str) -> str:
    return f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={AZURE_KEY};{endpoints}"


def _send_to_azure(connection: str, options: SendOptions = GUARDED):
    (result,) = azure_table.connector.send(
        {"storageAccountConnectionString": connection}, [make_payload()], options
    )
    return result


class Listener:
    """A TCP listener on one loopback address that counts connections and closes them."""

    def __init__(self, host: str) -> None:
        self.connections = 0
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind((host, 0))
        self.socket.listen()
        self.socket.settimeout(0.05)
        self.port = self.socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def stand_in_public(monkeypatch):
    """The guard takes 127.0.0.2 for a public address (and nothing else changes)."""
    real = ssrf.address_refusal

    def address_refusal(address):
        return None if str(address) == STAND_IN_PUBLIC else real(address)

    monkeypatch.setattr(ssrf, "address_refusal", address_refusal)


def test_azure_rebinding_between_save_and_send_is_refused_at_connect(
    canary, fake_dns, stand_in_public
):
    # Given an account name that answers "public" when the target is saved, then loopback
    answers, calls = fake_dns
    host = "acct.table.rebind.example"
    answers[host] = [[(STAND_IN_PUBLIC, None)], [("127.0.0.1", canary.port)]]
    connection = _azure_connection(f"TableEndpoint=https://{host}")
    azure_table.check_connection_string(connection, ssrf.GuardPolicy())  # passes at save

    # When a lead is sent
    result = _send_to_azure(connection)

    # Then the connect-time answer is the one checked, and refused; nothing connected to it
    assert (result.outcome, result.status_code) == ("permanent", None)
    assert result.error == f"{host} resolves to 127.0.0.1, a loopback address: refused"
    assert calls == [host, host]
    assert canary.connections == 0


def test_azure_connects_to_the_address_it_checked_and_resolves_only_once(
    canary, fake_dns, stand_in_public
):
    # Given a name whose first answer is "public" and every later answer loopback (where
    # an SDK resolving again by itself would go)
    answers, calls = fake_dns
    host = "acct.table.rebind.example"
    with Listener(STAND_IN_PUBLIC) as public:
        answers[host] = [[(STAND_IN_PUBLIC, public.port)], [("127.0.0.1", canary.port)]]

        # When a lead is sent
        result = _send_to_azure(_azure_connection(f"TableEndpoint=https://{host}"))

    # Then the name was resolved once, the socket went to the checked address (which is
    # no TLS server, so the attempt is retried later), and never to the second answer
    assert result.outcome == "retryable"
    assert result.error == "could not reach Azure Table (ServiceRequestError); nothing was sent"
    assert calls == [host]
    assert public.connections == 1
    assert canary.connections == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_azure_never_follows_a_redirect_to_loopback(canary, status):
    # Given an account (loopback allowed, plain http allowed: the redirect is the only
    # thing that could reach the canary) that redirects every request to the canary
    location = f"http://127.0.0.1:{canary.port}/devstoreaccount1/Tables"
    options = SendOptions(
        allow_private_targets=True, require_https=False, connect_timeout=0.5, total_timeout=2.0
    )
    with RedirectReceiver(status=status, location=location) as account:
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{account.port}/devstoreaccount1;"
        )

        # When a lead is sent
        result = _send_to_azure(connection, options)

    # Then the redirect is a permanent failure; one request was made, the canary saw none
    assert (result.outcome, result.status_code) == ("permanent", status)
    assert result.error == (
        f"{status} {HTTPStatus(status).phrase}: redirect refused (redirects are never followed)"
    )
    assert [(r.method, r.path) for r in account.requests] == [("POST", "/devstoreaccount1/Tables")]
    assert canary.connections == 0


# (the endpoints part of a connection string; {port} is the canary's), the refusal's words
REFUSED_CONNECTIONS = [
    ("TableEndpoint=https://127.0.0.1:{port}/acct", "127.0.0.1 is a loopback address: refused"),
    ("TableEndpoint=https://localhost:{port}/acct", "localhost resolves to 127.0.0.1, a loopback"),
    ("TableEndpoint=https://[::1]:{port}/acct", "::1 is a loopback address: refused"),
    ("TableEndpoint=https://[::127.0.0.1]:{port}/acct", "IPv4-compatible (deprecated) address"),
    ("TableEndpoint=https://169.254.169.254/acct", "the cloud metadata address: refused"),
    ("TableEndpoint=https://168.63.129.16/acct", "the Azure WireServer address: refused"),
    ("TableEndpoint=https://10.1.2.3/acct", "10.1.2.3 is a private address: refused"),
    ("TableEndpoint=https://mixed.example/acct", "mixed.example resolves to 127.0.0.1"),
    ("TableEndpoint=http://public.example/acct", "the endpoint must use https"),
    ("TableEndpoint=https://public.example:8443/acct", "port 8443 is refused"),
    ("EndpointSuffix=internal.example", "acct.table.internal.example resolves to 10.0.0.5"),
]
# Refused at save only: the table service never contacts these endpoints.
REFUSED_AT_SAVE_ONLY = [
    (
        "TableEndpoint=https://public.example/acct;BlobEndpoint=https://10.9.8.7/",
        "10.9.8.7 is a private address: refused",
    ),
    (
        "TableEndpoint=https://public.example/acct;TableSecondaryEndpoint=https://[fd00::1]/",
        "fd00::1 is a unique-local (private) address: refused",
    ),
]


def _resolve_azure_names(answers: dict, port: int) -> None:
    resolve_test_names(answers, port)
    answers["acct.table.internal.example"] = [[("10.0.0.5", None)]]


@pytest.mark.parametrize(("endpoints", "expected"), REFUSED_CONNECTIONS + REFUSED_AT_SAVE_ONLY)
def test_save_time_check_refuses_a_connection_string_naming_a_non_public_endpoint(
    canary, fake_dns, endpoints, expected
):
    _resolve_azure_names(fake_dns[0], canary.port)

    with pytest.raises(ssrf.TargetRefused) as refused:
        azure_table.check_connection_string(
            _azure_connection(endpoints.format(port=canary.port)), ssrf.GuardPolicy()
        )

    assert expected in str(refused.value)
    assert AZURE_KEY not in str(refused.value)
    assert canary.connections == 0


@pytest.mark.parametrize(("endpoints", "expected"), REFUSED_CONNECTIONS)
def test_azure_send_refuses_a_non_public_endpoint_without_connecting(
    canary, fake_dns, endpoints, expected
):
    _resolve_azure_names(fake_dns[0], canary.port)

    result = _send_to_azure(_azure_connection(endpoints.format(port=canary.port)))

    assert (result.outcome, result.status_code) == ("permanent", None)
    assert expected in result.error
    assert AZURE_KEY not in result.error
    assert canary.connections == 0


def test_the_development_storage_shortcut_is_refused_at_save():
    with pytest.raises(ssrf.TargetRefused) as refused:
        azure_table.check_connection_string("UseDevelopmentStorage=true", ssrf.GuardPolicy())

    assert str(refused.value) == "the endpoint must use https"


def test_a_public_connection_string_passes_the_save_time_check(fake_dns):
    # Given an account whose every endpoint resolves to public addresses only
    answers, calls = fake_dns
    answers["acct.table.core.example"] = [[(PUBLIC_V4, None), (PUBLIC_V6, None)]]
    answers["acct.blob.core.example"] = [[(PUBLIC_V4, None)]]
    connection = _azure_connection(
        "EndpointSuffix=core.example;BlobEndpoint=https://acct.blob.core.example/"
    )

    # When it is checked, Then it passes, each origin resolved once
    azure_table.check_connection_string(connection, ssrf.GuardPolicy())
    assert calls == ["acct.table.core.example", "acct.blob.core.example"]


@pytest.mark.django_db
def test_the_target_form_refuses_a_loopback_connection_string_next_to_the_field(settings):
    # Given private targets not allowed, and a publisher's new Azure Table target
    settings.CRM_ALLOW_PRIVATE_TARGETS = False
    publisher = factories.make_publisher()
    connection = _azure_connection("TableEndpoint=https://127.0.0.1:10002/devstoreaccount1")
    data = {
        "name": "Leads table",
        "scope": CrmTarget.Scope.ALL_LISTINGS,
        "extra_fields": "",
        "config_storageAccountConnectionString": connection,
    }

    # When the portal form is submitted
    form = PortalTargetForm(data, kind=CrmTarget.Kind.AZURE_TABLE, publisher=publisher)

    # Then the error stands next to the field, quotes no key, and nothing was saved
    assert not form.is_valid()
    assert form.errors["config_storageAccountConnectionString"] == [
        "This address cannot receive leads: 127.0.0.1 is a loopback address: refused."
    ]
    assert AZURE_KEY not in str(form.errors)
    assert CrmTarget.objects.count() == 0


@pytest.mark.django_db
def test_the_target_form_refuses_a_malformed_connection_string_without_quoting_it(settings):
    settings.CRM_ALLOW_PRIVATE_TARGETS = False
    publisher = factories.make_publisher()
    data = {
        "name": "Leads table",
        "scope": CrmTarget.Scope.ALL_LISTINGS,
        "extra_fields": "",
        "config_storageAccountConnectionString": "AccountKey=s3cr3t;garbage",
    }

    form = PortalTargetForm(data, kind=CrmTarget.Kind.AZURE_TABLE, publisher=publisher)

    assert not form.is_valid()
    assert form.errors["config_storageAccountConnectionString"] == [
        "This is not a storage account connection string. Copy it from the Azure portal: "
        "Storage account → Access keys → Connection string."
    ]
    assert "s3cr3t" not in str(form.errors)
    assert CrmTarget.objects.count() == 0
