"""Azurite's table service on a free loopback port, for the Azure Table connector tests.

Azurite is the `azurite` devDependency in package.json: `make test` runs `npm ci` when
node_modules is missing or older than package-lock.json; by hand, run `npm ci` once.
Storage is in memory, so every start is empty and nothing is left on disk.
"""

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
AZURITE_TABLE = REPO_ROOT / "node_modules" / ".bin" / "azurite-table"
# Azurite's well-known development account (public, documented by Microsoft).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT_SECONDS = 30.0


def connection_string(port: int, account_key: str = ACCOUNT_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={account_key};"
        f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT_NAME};"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with {process.returncode}:\n{log.read_text()}")
        try:
            # Any HTTP answer (an unsigned request earns 403) means the service is up.
            httpx.get(f"http://127.0.0.1:{port}/{ACCOUNT_NAME}/Tables", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not answer within {START_TIMEOUT_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running_azurite() -> Iterator[str]:
    """Start Azurite's table service; yield its connection string; stop it after."""
    if not AZURITE_TABLE.exists():
        pytest.fail("Azurite is not installed: run `npm ci` at the repository root")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="azurite-") as workdir:
        log = Path(workdir) / "azurite.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [
                    str(AZURITE_TABLE),
                    "--inMemoryPersistence",
                    "--tableHost",
                    "127.0.0.1",
                    "--tablePort",
                    str(port),
                    "--skipApiVersionCheck",
                    "--loose",
                ],
                cwd=workdir,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_answering(process, port, log)
                yield connection_string(port)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="module")
def azurite() -> Iterator[str]:
    """The connection string of an Azurite started for this test module."""
    with running_azurite() as started:
        yield started
