"""Fixtures shared by the connector test modules."""

import socket

import pytest

from crm.connectors import http_client, ssrf
from tests.crm.connectors.ssrf_support import Canary, address_info
from tests.crm.receivers import ca_bundle_path


@pytest.fixture
def guarded_clients(monkeypatch):
    """Trust the test CA, and close the pooled HTTP clients after the test."""
    monkeypatch.setenv("CRM_EXTRA_CA_BUNDLE", ca_bundle_path())
    yield
    http_client.clients_close()


@pytest.fixture
def canary():
    """A loopback listener that counts the connections made to it."""
    with Canary() as listener:
        yield listener


@pytest.fixture
def fake_dns(monkeypatch, canary):
    """Names under .example resolve as the test says; numeric hosts resolve for real.
    Each answer is a list of (address, port); port None means the port asked for."""
    answers: dict[str, list] = {}
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        queue = answers[host]
        records = queue.pop(0) if len(queue) > 1 else queue[0]
        return [address_info(address, port if p is None else p) for address, p in records]

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", getaddrinfo)
    return answers, calls
