"""Benchmark the nurture sender: messages per minute to a loopback SMTP server.

    .venv/bin/python bench/nurture.py
    .venv/bin/python bench/nurture.py --steps 10000 --batch-size 200 --keep
    .venv/bin/python bench/nurture.py --steps 200 --profile 30   # cProfile of one batch
    BENCH_PG=postgres://user@host:5432 .venv/bin/python bench/nurture.py

It creates the database `lp_bench_nurture` and migrates it, then makes a publisher with
a running one-step sequence and N consenting leads enrolled in it, all due now. An
aiosmtpd server runs in its own process on loopback and counts what it accepts. One
worker process runs `leads.nurture.send.nurture_send_due` until nothing is due (the
same code the beat task runs), and the script prints the rate and checks that the
server received exactly N messages and the send log holds N `sent` rows. The server does
what an MTA's acceptance does and no more: it keeps each message's bytes and counts them
(no parsing). Where the wall time went: the CPU of the worker, of the SMTP server process
and of the worker's PostgreSQL backend, each a message. It drops the database afterwards
unless --keep is given. With --profile K the run is under cProfile and
the K costliest functions (cumulative time) are printed before the figure.
"""

import argparse
import os
import subprocess
import sys
import textwrap
import time

from harness import SERVER, database_name, figure_record, free_port, manage_output, scratch_database
from shell_seeds import PUBLISHER_WITH_CAMPAIGN

DATABASE = database_name("lp_bench_nurture")

SMTP_SERVER = textwrap.dedent(
    """
    import os, signal, sys, threading
    from aiosmtpd.controller import Controller

    class Counter:
        count = 0
        kept = []  # the accepted bytes, as an MTA's queue keeps them
        async def handle_DATA(self, server, session, envelope):
            Counter.count += len(envelope.rcpt_tos)
            Counter.kept.append(envelope.original_content)
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    controller.stop()
    cpu = os.times()
    print(cpu.user + cpu.system, sum(map(len, Counter.kept)), flush=True)
    print(Counter.count, flush=True)
    """
)

SEED = (
    PUBLISHER_WITH_CAMPAIGN
    + """
from django.utils import timezone
from leads.nurture import services as nurture
from leads.models import Lead
nurture.step_save(
    campaign=campaign, step=None, delay_minutes=0, subject="Hello {first_name}",
    body="Hi {first_name} of {company},\\n\\nA word about {offer_title}.\\n\\n{unsubscribe_url}",
)
nurture.sequence_start(campaign=campaign)
now = timezone.now()
for start in range(0, N, 2000):
    leads = Lead.objects.bulk_create(
        Lead(publisher=publisher, email=f"lead{n}@customer.example",
             email_normalized=f"lead{n}@customer.example", first_name=f"Person{n}",
             last_name="Example", company="Customer Inc", marketing_consent=True,
             last_activity_at=now)
        for n in range(start, min(N, start + 2000))
    )
    nurture.enrollments_create(pairs=[(lead.pk, campaign.pk) for lead in leads])
"""
)

RUN = """
import cProfile, json, os, pstats, time
from django.db import connection
from leads.nurture import send as nurture_send
from leads.models import EmailSend

def backend_cpu():
    # The worker's PostgreSQL backend on this machine: utime + stime from /proc, in seconds.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

db_started = backend_cpu()
profiler = cProfile.Profile() if PROFILE else None
started, cpu_started = time.perf_counter(), time.process_time()
if profiler:
    profiler.enable()
report = nurture_send.nurture_send_due(batch_size=BATCH, budget_seconds=3600)
if profiler:
    profiler.disable()
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
if profiler:
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(PROFILE)
db_ended = backend_cpu()
db_cpu = None if db_started is None or db_ended is None else db_ended - db_started
print(json.dumps({"elapsed": elapsed, "cpu": cpu, "sent": report.sent, "db_cpu": db_cpu,
                  "logged": EmailSend.objects.filter(status="sent").count()}))
"""


def _env(smtp_port: int) -> dict:
    return os.environ | {
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdefghij",
        "FIELD_ENCRYPTION_KEYS": "YmVuY2gtZmllbGQta2V5LTAwMDAwMDAwMDAwMDAwMDA=",
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "DEFAULT_FROM_EMAIL": "Bench <nurture@bench.example>",
        "PORTAL_BASE_URL": "https://portal.bench.example",
        "ALLOWED_HOSTS": "localhost",
        "LOG_LEVEL": "WARNING",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="due steps (enrolled leads)")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="K", help="print cProfile's K costliest"
    )
    args = parser.parse_args()

    port = free_port()
    env = _env(port)
    with scratch_database(DATABASE, keep=args.keep):
        smtp = subprocess.Popen(
            [sys.executable, "-c", SMTP_SERVER, str(port)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert smtp.stdout.readline().strip() == "ready"
            manage_output(env, "migrate", "--no-input", "-v", "0")
            started = time.perf_counter()
            manage_output(env, "shell", code=f"N = {args.steps}\n" + SEED)
            print(f"seeded {args.steps:,} enrolments in {time.perf_counter() - started:.1f} s")
            code = f"BATCH = {args.batch_size}\nPROFILE = {args.profile}\n" + RUN
            output = manage_output(env, "shell", code=code)
            if args.profile:
                print("\n".join(output.strip().splitlines()[:-1]))
            result = __import__("json").loads(output.strip().splitlines()[-1])
        finally:
            smtp.terminate()
            *_, server_line, count_line = smtp.communicate(timeout=30)[0].strip().splitlines()
            received = int(count_line)
            server_cpu, server_bytes = float(server_line.split()[0]), int(server_line.split()[1])

    rate = result["sent"] / result["elapsed"] * 60
    print(
        f"sent {result['sent']:,} messages in {result['elapsed']:.1f} s with one worker "
        f"(batch {args.batch_size}): {rate:,.0f} messages/min"
    )
    cpu_ms = result["cpu"] / max(result["sent"], 1) * 1000
    print(
        f"worker CPU {result['cpu']:.1f} s: {cpu_ms:.2f} ms a message, "
        f"{60_000 / max(cpu_ms, 0.001):,.0f} messages/min if the worker had a core to itself"
    )
    sent = max(result["sent"], 1)
    print(
        f"SMTP server CPU {server_cpu:.1f} s: {server_cpu / sent * 1000:.2f} ms a message "
        f"(it kept {server_bytes:,} bytes)"
    )
    if result["db_cpu"] is not None:
        db_ms = result["db_cpu"] / sent * 1000
        print(f"PostgreSQL backend CPU {result['db_cpu']:.1f} s: {db_ms:.2f} ms a message")
    print(f"SMTP server received {received:,}; send log holds {result['logged']:,} sent rows")
    lost = abs(args.steps - received) + abs(args.steps - result["logged"])
    figure_record(
        bench="nurture", name="nurture, one worker", value=rate, unit="messages/min",
        target=10_000, lost=lost,
    )  # fmt: skip
    if not received == result["sent"] == result["logged"] == args.steps:
        raise SystemExit("mismatch: every due step must be sent exactly once")


if __name__ == "__main__":
    main()
