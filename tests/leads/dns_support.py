"""A DNS server on loopback (UDP, dnspython's message API) that answers TXT queries from a
dict, and the fixture that points the sending identity's resolver at it. No real DNS."""

import socket
import threading

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from leads.sending.keys import txt_strings


class LoopbackDns:
    """Answers TXT questions for the names in `records`; NXDOMAIN for the rest. Names in
    `silent` get no answer at all (the resolver times out)."""

    def __init__(self):
        self.records: dict[str, list[str]] = {}
        self.silent: set[str] = set()
        self.questions: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def publish(self, name: str, *values: str) -> None:
        self.records.setdefault(name.lower().rstrip("."), []).extend(values)

    def start(self) -> "LoopbackDns":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            self.questions.append(name)
            if name in self.silent:
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            values = self.records.get(name)
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT:
                rrset = dns.rrset.from_text_list(
                    question.name,
                    300,
                    dns.rdataclass.IN,
                    dns.rdatatype.TXT,
                    [" ".join(f'"{s}"' for s in txt_strings(value)) for value in values],
                )
                response.answer.append(rrset)
            self.sock.sendto(response.to_wire(), peer)


@pytest.fixture
def loopback_dns(settings):
    """A LoopbackDns that the identity check's resolver asks (a short timeout)."""
    server = LoopbackDns().start()
    settings.SENDING_IDENTITY = settings.SENDING_IDENTITY | {
        "SPF_INCLUDE": "_spf.portal.test",
        "DNS_NAMESERVERS": ["127.0.0.1"],
        "DNS_PORT": server.port,
        "DNS_TIMEOUT": 1.0,
    }
    try:
        yield server
    finally:
        server.stop()


def publish_identity(server: LoopbackDns, identity, records) -> None:
    """Publish every record the identity page asks for, as a publisher would."""
    for record in records:
        server.publish(record.name, record.value)
