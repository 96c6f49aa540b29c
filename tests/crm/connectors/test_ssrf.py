"""S2: the SSRF guard refuses every non-public target, at save and at connect time,
and a canary listener on loopback proves that nothing was connected to."""

import ipaddress
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.connectors import https, ssrf
from crm.connectors.base import SendOptions
from tests.crm.connectors import LOOPBACK, make_payload
from tests.crm.connectors.ssrf_support import (
    GUARDED,
    PUBLIC_V4,
    resolve_test_names,
)
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver

pytestmark = pytest.mark.usefixtures("guarded_clients")

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# (url; {port} is the canary's), the words the refusal must contain
REFUSED = [
    ("https://localhost:{port}/", "localhost resolves to 127.0.0.1, a loopback address"),
    ("https://LOCALHOST:{port}/", "localhost resolves to 127.0.0.1, a loopback address"),
    ("https://127.0.0.1:{port}/", "127.0.0.1 is a loopback address: refused"),
    ("https://127.1:{port}/", "127.1 resolves to 127.0.0.1, a loopback address"),
    ("https://127.255.255.254:{port}/", "127.255.255.254 is a loopback address"),
    ("https://0.0.0.0:{port}/", "0.0.0.0 is an unspecified ('this network') address"),
    ("https://0:{port}/", "0 resolves to 0.0.0.0, an unspecified"),
    ("https://[::1]:{port}/", "::1 is a loopback address: refused"),
    ("https://[::]:{port}/", ":: is the unspecified address: refused"),
    ("https://[::ffff:127.0.0.1]:{port}/", "::ffff:127.0.0.1 is a loopback address"),
    ("https://[::ffff:7f00:1]:{port}/", "::ffff:7f00:1 is a loopback address"),
    ("https://[0:0:0:0:0:ffff:127.0.0.1]:{port}/", "is a loopback address: refused"),
    ("https://2130706433:{port}/", "2130706433 resolves to 127.0.0.1, a loopback address"),
    ("https://0x7f.1:{port}/", "0x7f.1 resolves to 127.0.0.1, a loopback address"),
    ("https://017700000001:{port}/", "017700000001 resolves to 127.0.0.1, a loopback"),
    ("https://0177.1:{port}/", "0177.1 resolves to 127.0.0.1, a loopback address"),
    ("https://0x7f.0.0.1:{port}/", "0x7f.0.0.1 resolves to 127.0.0.1, a loopback address"),
    ("https://0x7f000001:{port}/", "0x7f000001 resolves to 127.0.0.1, a loopback address"),
    ("https://crm.example@127.0.0.1:{port}/", "127.0.0.1 is a loopback address"),
    ("https://127.0.0.1:{port}#@crm.example/", "127.0.0.1 is a loopback address"),
    ("https://10.0.0.1/", "10.0.0.1 is a private address: refused"),
    ("https://10.255.255.255/", "10.255.255.255 is a private address"),
    ("https://172.16.0.1/", "172.16.0.1 is a private address"),
    ("https://172.31.255.254/", "172.31.255.254 is a private address"),
    ("https://192.168.1.1/", "192.168.1.1 is a private address"),
    ("https://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
    ("https://100.127.255.254/", "100.127.255.254 is a shared (carrier-grade NAT) address"),
    ("https://169.254.169.254/", "169.254.169.254 is the cloud metadata address"),
    ("https://169.254.0.1/", "169.254.0.1 is a link-local address"),
    ("https://168.63.129.16/", "168.63.129.16 is the Azure WireServer address"),
    ("https://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("https://240.0.0.1/", "240.0.0.1 is a reserved address"),
    ("https://255.255.255.255/", "255.255.255.255 is a reserved address"),
    ("https://192.0.0.170/", "192.0.0.170 is an IETF protocol address"),
    ("https://198.18.0.1/", "198.18.0.1 is a benchmarking address"),
    ("https://[fe80::1]/", "fe80::1 is a link-local address"),
    ("https://[fc00::1]/", "fc00::1 is a unique-local (private) address"),
    ("https://[fd12:3456:789a::1]/", "fd12:3456:789a::1 is a unique-local (private) address"),
    ("https://[fec0::1]/", "fec0::1 is a site-local address"),
    ("https://[ff02::1]/", "ff02::1 is a multicast address"),
    ("https://[64:ff9b::a9fe:a9fe]/", "a NAT64 address embedding 169.254.169.254"),
    ("https://[64:ff9b::7f00:1]:{port}/", "a NAT64 address embedding 127.0.0.1"),
    ("https://[2002:a9fe:a9fe::]/", "a 6to4 address embedding 169.254.169.254"),
    ("https://[2002:7f00:1::]:{port}/", "a 6to4 address embedding 127.0.0.1"),
    ("https://[2001::1]/", "2001::1 is a Teredo address"),
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "a Teredo address embedding 127.0.0.1"),
    ("https://[2001:2::1]/", "2001:2::1 is an IETF special-purpose"),
    ("https://[2001:10::1]/", "2001:10::1 is an IETF special-purpose"),
    ("https://[2001:20::1]/", "2001:20::1 is an IETF special-purpose"),
    (
        "https://[::127.0.0.1]:{port}/",
        "an IPv4-compatible (deprecated) address embedding 127.0.0.1",
    ),
    ("https://[::7f00:1]:{port}/", "::7f00:1 is an IPv4-compatible (deprecated) address"),
    ("https://[::a9fe:a9fe]/", "an IPv4-compatible (deprecated) address embedding 169.254.169.254"),
    ("https://[::ffff:0:7f00:1]:{port}/", "an IPv4-translated (SIIT) address embedding 127.0.0.1"),
    ("https://[64:ff9b:1::a9fe:a9fe]/", "64:ff9b:1::a9fe:a9fe is a NAT64 address"),
    ("https://[100::1]/", "100::1 is a discard-only address"),
    ("https://[3fff::1]/", "3fff::1 is a documentation address"),
    ("https://[5f00::1]/", "5f00::1 is a segment-routing address"),
    ("https://[4000::1]/", "4000::1 is a reserved address (outside IPv6 global unicast"),
    ("https://[8000::1]/", "8000::1 is a reserved address (outside IPv6 global unicast"),
    ("https://[ff05::1:3]/", "ff05::1:3 is a multicast address"),
    ("https://192.0.0.9/", "192.0.0.9 is an IETF protocol address"),
    ("https://192.0.2.1/", "192.0.2.1 is a documentation address"),
    ("https://192.88.99.1/", "192.88.99.1 is a deprecated 6to4 relay address"),
    ("https://[2001:db8::1]/", "2001:db8::1 is a documentation address"),
    ("https://[::ffff:169.254.169.254]/", "is the cloud metadata address"),
    ("https://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 is a private address"),
    ("http://127.0.0.1:{port}/", "the endpoint must use https"),
    ("http://crm.example/", "the endpoint must use https"),
    ("ftp://crm.example/", "the endpoint must be an https URL, not ftp:"),
    ("https://public.example:8443/", "port 8443 is refused: the endpoint must use port 443"),
    ("https://public.example:{port}/", "is refused: the endpoint must use port 443"),
    ("https://mixed.example/", "mixed.example resolves to 127.0.0.1, a loopback address"),
    ("https://mixed6.example/", "mixed6.example resolves to ::1, a loopback address"),
]


@pytest.mark.parametrize(("url", "expected"), REFUSED)
def test_send_refuses_a_non_public_target_without_connecting(canary, fake_dns, url, expected):
    # Given a target whose URL leads somewhere non-public, and private targets not allowed
    resolve_test_names(fake_dns[0], canary.port)
    config = {"httpsEndpointUrl": url.format(port=canary.port), "signingSecret": SECRET}

    # When a lead is sent to it
    (result,) = https.connector.send(config, [make_payload()], GUARDED)

    # Then it is refused for good, with a readable reason, and nothing was connected to
    assert (result.outcome, result.status_code) == ("permanent", None)
    assert expected in result.error
    assert canary.connections == 0


@pytest.mark.parametrize(("url", "expected"), REFUSED)
def test_save_time_check_refuses_the_same_targets(canary, fake_dns, url, expected):
    resolve_test_names(fake_dns[0], canary.port)

    with pytest.raises(ssrf.TargetRefused) as refused:
        ssrf.check_url(url.format(port=canary.port), ssrf.GuardPolicy())

    assert expected in str(refused.value)
    assert canary.connections == 0


def test_a_zero_padded_dotted_quad_is_refused_at_send_and_at_save(canary):
    # Given 0177.0.0.1 (octal 127.0.0.1), which httpx will not even parse
    url = f"https://0177.0.0.1:{canary.port}/"

    # When it is sent to, and checked at save
    (result,) = https.connector.send(
        {"httpsEndpointUrl": url, "signingSecret": SECRET}, [make_payload()], GUARDED
    )
    with pytest.raises(ssrf.TargetRefused) as refused:
        ssrf.check_url(url, ssrf.GuardPolicy())

    # Then both refuse it, and nothing was connected to
    assert result.outcome == "permanent"
    assert result.error == "the endpoint URL is not valid (Invalid IPv4 address: '0177.0.0.1')"
    assert str(refused.value) == "0177.0.0.1 resolves to 127.0.0.1, a loopback address: refused"
    assert canary.connections == 0


def test_rebinding_public_at_save_private_at_connect_is_refused(canary, fake_dns):
    # Given a name that answers public at save time, then loopback (the canary)
    answers, calls = fake_dns
    answers["rebind.example"] = [[(PUBLIC_V4, None)], [("127.0.0.1", canary.port)]]
    url = "https://rebind.example/leads"
    ssrf.check_url(url, ssrf.GuardPolicy())  # passes: public at save time

    # When a lead is sent
    (result,) = https.connector.send(
        {"httpsEndpointUrl": url, "signingSecret": SECRET}, [make_payload()], GUARDED
    )

    # Then the connect-time lookup (the only one) is checked, and nothing is connected to
    assert result.outcome == "permanent"
    assert result.error == "rebind.example resolves to 127.0.0.1, a loopback address: refused"
    assert calls == ["rebind.example", "rebind.example"]
    assert canary.connections == 0


def test_the_canary_does_see_a_connection_when_private_targets_are_allowed(canary, fake_dns):
    # Given the same rebinding name, and private targets allowed (the tests' setting)
    answers, calls = fake_dns
    answers["rebind.example"] = [[("127.0.0.1", canary.port)]]
    options = SendOptions(allow_private_targets=True, connect_timeout=0.5, total_timeout=1.0)

    # When a lead is sent
    (result,) = https.connector.send(
        {"httpsEndpointUrl": "https://rebind.example/", "signingSecret": SECRET},
        [make_payload()],
        options,
    )

    # Then the guard connected to exactly the address it resolved once: the canary
    # (which is no TLS server, so the attempt fails and is retried later)
    assert result.outcome == "retryable"
    assert calls == ["rebind.example"]
    assert _eventually(lambda: canary.connections == 1)


def test_a_redirect_to_loopback_is_never_followed(canary):
    # Given an endpoint (allowed: private targets on) that redirects to the canary
    with HttpsReceiver(SECRET) as receiver:
        location = f"https://127.0.0.1:{canary.port}/"
        receiver.answer_with(Answer(302, headers={"Location": location}))
        config = {"httpsEndpointUrl": receiver.url("/hook"), "signingSecret": SECRET}

        # When a lead is sent
        (result,) = https.connector.send(config, [make_payload()], LOOPBACK)

    # Then the redirect is refused for good, and its target never sees a connection
    assert (result.outcome, result.status_code) == ("permanent", 302)
    assert result.error == "302 Found: redirect refused (redirects are never followed)"
    assert len(receiver.requests) == 1
    assert canary.connections == 0


def test_proxy_environment_variables_are_ignored(canary, monkeypatch):
    # Given proxy variables pointing at the canary
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{canary.port}")
    with HttpsReceiver(SECRET) as receiver:
        config = {"httpsEndpointUrl": receiver.url("/hook"), "signingSecret": SECRET}

        # When a lead is sent
        (result,) = https.connector.send(config, [make_payload()], LOOPBACK)

    # Then it went straight to the endpoint
    assert result.outcome == "delivered"
    assert canary.connections == 0


def _eventually(condition, seconds: float = 2.0) -> bool:
    event = threading.Event()
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        event.wait(0.02)
    return condition()


# AntiSSRF recommendedV1, then what the IANA special-purpose and IPv6 address-space
# registries add, copied independently of the guard's table (the oracle).
RECOMMENDED_V1 = [
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 168.63.129.16/32 169.254.0.0/16 "
        "172.16.0.0/12 192.0.0.0/24 192.0.2.0/24 192.31.196.0/24 192.52.193.0/24 "
        "192.88.99.0/24 192.168.0.0/16 192.175.48.0/24 198.18.0.0/15 198.51.100.0/24 "
        "203.0.113.0/24 224.0.0.0/4 240.0.0.0/4 ::1/128 ::/128 64:ff9b::/96 64:ff9b:1::/48 "
        "100::/64 100:0:0:1::/64 2001::/23 2001:db8::/32 2002::/16 2620:4f:8000::/48 "
        "3fff::/20 5f00::/16 fc00::/7 fe80::/10 fec0::/10 ff00::/8"
    ).split()
]
IANA_ADDITIONS = [
    ipaddress.ip_network(cidr)
    # IPv4-compatible, SIIT, and everything outside IPv6 global unicast 2000::/3
    for cidr in "::/96 ::ffff:0:0:0/96 ::/3 4000::/2 8000::/1".split()
]
DENIED = RECOMMENDED_V1 + IANA_ADDITIONS


def _listed(ip) -> bool:
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in DENIED)


_near_listed = st.sampled_from(DENIED).flatmap(lambda net: st.ip_addresses(network=net))
_ipv4 = st.ip_addresses(v=4) | _near_listed.filter(lambda ip: ip.version == 4)
_mapped = _ipv4.map(lambda ip: ipaddress.IPv6Address(f"::ffff:{ip}"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # the CA env only
@given(_ipv4 | _mapped | st.ip_addresses(v=6) | _near_listed)
def test_the_classifier_agrees_with_the_deny_list_membership(ip):
    assert ssrf.is_public(ip) is not _listed(ip)
    assert ssrf.is_public(str(ip)) is not _listed(ip)
