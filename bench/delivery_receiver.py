"""A lean loopback HTTPS receiver for bench/delivery.py (it starts this in a process of its own).

    python bench/delivery_receiver.py PORT CERT_CHAIN_PEM [DELAY_SECONDS]

It answers every POST with 200 at once (or after DELAY_SECONDS: a slow CRM, for
bench/recovery.py) and verifies nothing: it is the fastest endpoint
we can offer the delivery engine and the baseline, so that what the benchmark measures is
the sender. TLS comes from the bench's trustme certificate (CERT_CHAIN_PEM holds the key
and the chain). One asyncio loop, HTTP/1.1 keep-alive, no HTTP library.

Every POST is recorded as (time.monotonic() when its body was read, body). On Linux,
CLOCK_MONOTONIC is one clock for every process of the machine, so the bench compares these
times with its own. The bench drives the receiver through three paths on the same server:
  GET  /_count  -> {"count": posts received}
  POST /_reset  -> forget every record
  GET  /_dump   -> [[time, LeadId, webhook-id-or-null, body], …] (body only with ?bodies=1)
"""

import asyncio
import json
import signal
import ssl
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024

records: list[tuple[float, bytes, bytes | None]] = []
delay = 0.0


def _answer_json(document) -> bytes:
    body = json.dumps(document, separators=(",", ":")).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def _control(method: bytes, path: bytes) -> bytes:
    if path == b"/_count":
        return _answer_json({"count": len(records)})
    if method == b"POST" and path == b"/_reset":
        records.clear()
        return _answer_json({"count": 0})
    if path.startswith(b"/_dump"):
        with_bodies = b"bodies=1" in path
        rows = []
        for received, body, webhook_id in records:
            try:
                lead_id = json.loads(body).get("LeadId")
            except ValueError:
                lead_id = None
            row = [received, lead_id, webhook_id.decode() if webhook_id else None]
            row.append(body.decode() if with_bodies else None)
            rows.append(row)
        return _answer_json(rows)
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                return
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            length, webhook_id = 0, None
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = min(int(value), MAX_BODY)
                elif name == b"webhook-id":
                    webhook_id = value.strip()
            body = await reader.readexactly(length) if length else b""
            if path.startswith(b"/_"):
                writer.write(_control(method, path))
            else:
                records.append((time.monotonic(), body, webhook_id))
                if delay:
                    await asyncio.sleep(delay)
                writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError, OSError):
        pass
    finally:
        writer.close()


async def main(port: int, cert_chain: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_chain)
    server = await asyncio.start_server(
        _serve, "127.0.0.1", port, ssl=context, backlog=1024, limit=MAX_HEAD
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
