"""A connection that cannot be made is told as a sentence, never as OpenSSL's raw text
(testing an https target against the plain-HTTP demo receiver, say, which OpenSSL tells
as "[SSL: WRONG_VERSION_NUMBER] wrong version number")."""

import base64

import pytest

from crm.connectors import http_client, https
from tests.crm.connectors import LOOPBACK, make_payload
from tests.crm.receivers.https_receiver import HttpsReceiver

SECRET = "whsec_" + base64.b64encode(b"secret-for-the-connect-failures").decode()


@pytest.fixture(autouse=True)
def _fresh_clients():
    yield
    http_client.clients_close()


def _send(url: str):
    config = {"httpsEndpointUrl": url, "signingSecret": SECRET}
    (result,) = https.connector.send(config, [make_payload()], LOOPBACK)
    return result


def test_an_https_address_of_a_plain_http_server_says_to_use_http():
    with HttpsReceiver(SECRET, tls=False) as plain:
        result = _send(plain.url().replace("http://", "https://"))

    assert result.outcome == "retryable"
    assert result.error == (
        "could not connect: the server at that address does not speak HTTPS (if it is a "
        "plain HTTP server, such as the demo receiver, its address starts with http://); "
        "nothing was sent"
    )


def test_a_certificate_of_an_unknown_authority_is_said_to_be_untrusted():
    # The tests' CA is not added to the trusted bundle here.
    with HttpsReceiver(SECRET) as server:
        result = _send(server.url())

    assert result.error == (
        "could not connect: the server's certificate is not trusted (self-signed, or issued "
        "by an authority this portal does not know); nothing was sent"
    )
    assert server.requests == []


def test_a_refused_connection_says_nothing_listens_there():
    with HttpsReceiver(SECRET, tls=False) as gone:
        url = gone.url().replace("http://", "https://")

    result = _send(url)

    assert result.error == (
        "could not connect: nothing accepts connections at that address and port "
        "(connection refused); nothing was sent"
    )


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired", "has expired"),
        ("Hostname mismatch, certificate is not valid for 'x'", "another host name"),
        ("[Errno -2] Name or service not known", "could not be found"),
        ("[Errno 101] Network is unreachable", "cannot reach"),
        ("something new", "the connection failed (OSError)"),
    ],
)
def test_each_known_transport_error_has_its_sentence(text, sentence):
    assert sentence in http_client.connect_failure(OSError(text))
    assert "[" not in http_client.connect_failure(OSError(text))
