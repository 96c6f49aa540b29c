"""The loopback canary and fake DNS shared by the SSRF test modules."""

import socket
import threading

from crm.connectors.base import SendOptions

GUARDED = SendOptions(connect_timeout=0.5, total_timeout=1.0)  # the production policy
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class Canary:
    """A TCP listener on 127.0.0.1 and ::1 (same port) that counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.sockets = _bind_loopback_pair()
        self.port = self.sockets[0].getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, args=(s,)) for s in self.sockets]

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        for listener in self.sockets:
            listener.close()


def _bind_loopback_pair() -> list[socket.socket]:
    for _ in range(20):
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.bind(("127.0.0.1", 0))
        v4.listen()
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            v6.bind(("::1", v4.getsockname()[1]))
        except OSError:
            v4.close()
            v6.close()
            continue
        v6.listen()
        return [v4, v6]
    raise RuntimeError("no free loopback port on both 127.0.0.1 and ::1")


def address_info(address: str, port: int) -> tuple:
    """One getaddrinfo record for `address`:`port`."""
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def resolve_test_names(answers: dict, port: int) -> None:
    """Point the test names under .example at public addresses and the canary's port."""
    answers["public.example"] = [[(PUBLIC_V4, None)]]
    answers["mixed.example"] = [[(PUBLIC_V4, None), ("127.0.0.1", port)]]
    answers["mixed6.example"] = [[(PUBLIC_V6, None), ("::1", port)]]
