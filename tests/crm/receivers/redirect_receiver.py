"""A loopback server that answers every request with a redirect, for the SSRF tests.

It plays a storage account (or any CRM) that tries to steer the sender elsewhere: each
request, whatever its method and path, is recorded and answered `status` with
`Location: <location>`. A sender that follows the redirect shows up at the location (a
canary listener in the tests); one that does not makes exactly one request here.
"""

from tests.crm.receivers import LoopbackServer


class RedirectReceiver(LoopbackServer):
    def __init__(self, *, status: int, location: str, tls: bool = False) -> None:
        super().__init__(tls=tls)
        self.status = status
        self.location = location

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        return self.status, {"Location": self.location}, b"", 0.0, ""
