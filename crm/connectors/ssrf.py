"""The SSRF guard: publisher-configured URLs may only reach public addresses.

A URL is checked twice: when the target is saved (`check_url`) and again at connect time,
by `GuardedBackend`, the network backend of every connector's httpx client (the Azure
Table connector's SDK sends through the same client, see `azure_transport`). At connect
time the host is resolved once (every A and AAAA record), refused if ANY address is not
public, and the socket is opened to one of exactly those checked addresses. There is no
second DNS lookup between check and connect, so DNS rebinding cannot slip a private
address in. TLS still sends the original hostname as SNI and verifies the certificate
against it.

The deny list (`_LABELLED_CIDRS`) is Microsoft AntiSSRF's `recommendedV1`
(reference/reliability-security.md §3), completed from the IANA IPv4 and IPv6
Special-Purpose Address Registries (iana-ipv4-special-registry, iana-ipv6-special-registry;
entries up to RFC 9602's 5f00::/16 and RFC 9637's 3fff::/20) and the IANA IPv6 Address
Space registry, reviewed on 2026-12-05. Every entry not "globally reachable" is here, plus:
- `::/96`: IPv4-compatible IPv6 (RFC 4291 §2.5.5.1, deprecated; `::127.0.0.1`);
- `::ffff:0:0:0/96`: IPv4-translated (SIIT, RFC 2765, obsoleted);
- all IPv6 space outside global unicast `2000::/3` (IANA: "Reserved by IETF"), which also
  covers the deprecated ranges the registries dropped.
Some globally reachable entries are refused all the same: 192.0.0.9 and 192.0.0.10 (within
192.0.0.0/24), AS112 and AMT anycast, NAT64 `64:ff9b::/96` and 6to4 `2002::/16` and Teredo
`2001::/32` (they embed an IPv4 address, which may be internal), and 168.63.129.16 (Azure
WireServer, public-looking but host-internal). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
unwrapped first and judged as its IPv4 address; the other embedding prefixes are refused
whole, and the error names the IPv4 address they carry. `ipaddress.is_global` is not used:
it passes 168.63.129.16 and its mapped-address semantics changed across Python releases.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore

from crm.connectors.base import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABELLED_CIDRS = (
    ("0.0.0.0/8", "an unspecified ('this network') address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("168.63.129.16/32", "the Azure WireServer address"),
    ("169.254.169.254/32", "the cloud metadata address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.31.196.0/24", "an AS112 address"),
    ("192.52.193.0/24", "an AMT address"),
    ("192.88.99.0/24", "a deprecated 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("192.175.48.0/24", "an AS112 address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::1/128", "a loopback address"),
    ("::/128", "the unspecified address"),
    ("::/96", "an IPv4-compatible (deprecated) address"),
    ("::ffff:0:0:0/96", "an IPv4-translated (SIIT) address"),
    ("64:ff9b::/96", "a NAT64 address"),
    ("64:ff9b:1::/48", "a NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("100:0:0:1::/64", "a dummy address"),
    ("2001::/32", "a Teredo address"),
    ("2001::/23", "an IETF special-purpose (Teredo, benchmarking, ORCHID) address"),
    ("2001:db8::/32", "a documentation address"),
    ("2002::/16", "a 6to4 address"),
    ("2620:4f:8000::/48", "an AS112 address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment-routing address"),
    ("fc00::/7", "a unique-local (private) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
    # The rest of the IPv6 space outside global unicast 2000::/3 (IANA: reserved).
    ("::/3", "a reserved address (outside IPv6 global unicast 2000::/3)"),
    ("4000::/2", "a reserved address (outside IPv6 global unicast 2000::/3)"),
    ("8000::/1", "a reserved address (outside IPv6 global unicast 2000::/3)"),
)
BLOCKED_NETWORKS = tuple((ipaddress.ip_network(cidr), label) for cidr, label in _LABELLED_CIDRS)

HTTPS_PORT = 443
HTTP_PORT = 80


class TargetRefused(ConfigurationError):
    """The URL points somewhere a connector must never go; permanent and readable."""


class HostNotFound(ConfigurationError):
    """The host does not resolve (at connect time this is retried: DNS can recover)."""


@dataclass(frozen=True)
class GuardPolicy:
    allow_private_targets: bool = False  # tests and a DEBUG first run only
    require_https: bool = True

    @property
    def allowed_ports(self) -> frozenset[int]:
        return frozenset({HTTPS_PORT} if self.require_https else {HTTPS_PORT, HTTP_PORT})


def address_refusal(address: str | IPAddress) -> str | None:
    """Why an address is not public ("a loopback address"), or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d reaches a.b.c.d
    for network, label in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return _with_embedded(ip, label)
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a NAT64, IPv4-compatible, SIIT, 6to4 or Teredo address carries."""
    if ip.version != 6:
        return None
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's own address, de-obfuscated
    if ip in _NAT64 or ip in _IPV4_TRANSLATED or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _with_embedded(ip: IPAddress, label: str) -> str:
    """Name the IPv4 address an embedding address carries, so the error says where it
    would really go."""
    embedded = embedded_ipv4(ip)
    return f"{label} embedding {embedded}" if embedded is not None else label


def is_public(address: str | IPAddress) -> bool:
    return address_refusal(address) is None


def resolve_checked(host: str, port: int, policy: GuardPolicy) -> list[tuple]:
    """Resolve once and return getaddrinfo's entries, or refuse: any non-public address,
    then a non-standard port. Numeric forms (2130706433, 0x7f.1, 017700000001) resolve
    like inet_aton, so they meet the same check."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(f"{host} does not resolve ({exc})") from exc
    if policy.allow_private_targets:
        return infos
    if not infos:
        raise HostNotFound(f"{host} does not resolve")
    for info in infos:
        address = info[4][0]
        refusal = address_refusal(address)
        if refusal is None:
            continue
        if _same_address(host, address):
            raise TargetRefused(f"{host} is {refusal}: refused")
        raise TargetRefused(f"{host} resolves to {address}, {refusal}: refused")
    if port not in policy.allowed_ports:
        expected = " or ".join(str(p) for p in sorted(policy.allowed_ports, reverse=True))
        raise TargetRefused(f"port {port} is refused: the endpoint must use port {expected}")
    return infos


def _same_address(host: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(address)
    except ValueError:
        return False


def scheme_refusal(scheme: str, policy: GuardPolicy) -> str | None:
    """Why a URL scheme is refused, or None."""
    if scheme == "https":
        return None
    if scheme == "http":
        return "the endpoint must use https" if policy.require_https else None
    return f"the endpoint must be an https URL, not {scheme or 'a relative'}:"


def check_url(url: str, policy: GuardPolicy) -> None:
    """Save-time check of a publisher's URL (scheme, addresses, port); raises
    TargetRefused or HostNotFound. The connect-time check runs again on every send."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is not valid ({exc})") from exc
    refusal = scheme_refusal(parts.scheme.lower(), policy)
    if refusal:
        raise TargetRefused(refusal)
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    default_port = HTTPS_PORT if parts.scheme.lower() == "https" else HTTP_PORT
    resolve_checked(parts.hostname, port or default_port, policy)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses `resolve_checked` passed."""

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ) -> httpcore.NetworkStream:
        try:
            infos = resolve_checked(host, port, self.policy)
        except HostNotFound as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        last_error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address, address_port in dict.fromkeys(info[4][:2] for info in infos):
            try:
                # A numeric address: the getaddrinfo inside only parses it, asks no DNS.
                return super().connect_tcp(
                    address, address_port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error
