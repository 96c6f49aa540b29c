"""A scaled-out deployment on loopback, for tests/chaos/test_scale_out.py and bench/scale_out.py.

Two web processes (gunicorn with deploy/gunicorn.conf.py) on distinct ports, three Celery
workers with distinct hostnames and queue sets (all three take `delivery`, so the CRM
target is drained from three processes at once), and one beat, all sharing one PostgreSQL
database and one Redis of the run's own. Leads are posted to both web processes while the
`delivery`-only worker is SIGKILLed and started again, as systemd's Restart= would.

What is measured:
- lost and duplicate effects at a Standard Webhooks receiver (tests/crm/receivers): every
  posted lead must arrive exactly once as an effect;
- the target's rate limit across every worker, at the receiver: the arrival times must
  conform to the token bucket the limit defines (`rate_limit` tokens a period, as many in
  the bucket at most: crm/ratelimit.py), and the busiest window of one period is reported;
- one beat: the delivery sweeps the workers received against the sweeps beat sent and the
  sweeps one schedule allows in the time beat ran.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from crm.connectors import signing
from crm.models import CrmTarget
from leads.catalog import services as catalog_services
from leads.intake import api_keys
from leads.models import ApiKey
from tests.chaos.harness import READY, RedisServer, free_port, worker_env
from tests.crm.receivers import Answer
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.factories import make_listing, make_publisher

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SWEEP_SECONDS = 1.0
VICTIM = "delivery"  # the worker SIGKILLed and restarted
# Three workers, distinct hostnames and queue sets; every queue is consumed, and every
# worker takes `delivery`. The first is the one killed.
WORKERS = {
    "delivery": "delivery",
    "mixed": "delivery,celery",
    "mail": "delivery,nurture",
}
# Beat logs through settings.LOGGING ("time LEVEL logger [request id] message"; Celery's
# own "[time: LEVEL/MainProcess]" is matched too).
SWEEP_SENT = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
    r"(?:: INFO/MainProcess\]| INFO celery\.beat \[[^\]]*\]) "
    r"Scheduler: Sending due task crm-sweep \(crm\.sweep\)",
    re.MULTILINE,
)
BULK_SIZE = 50
SWEEP_RECEIVED = re.compile(r"Task crm\.sweep\[([0-9a-f-]+)\] received")
DRAIN_RECEIVED = re.compile(r"Task crm\.deliver_target\[([0-9a-f-]+)\] received")


@dataclass(frozen=True)
class Size:
    leads: int
    rate_limit: int  # the target's requests a second
    bulk_calls: int = 2  # the first leads come in bulk calls of BULK_SIZE, alternating webs
    web_workers: int = 1  # gunicorn workers per web process
    concurrency: int = 1  # processes per Celery worker
    clients: int = 4  # posting threads, spread over both web processes
    answer_delay: float = 0.02  # the receiver's time per request, so workers hold claims


TORN = "torn: the body ended before its Content-Length"


class TimedReceiver(HttpsReceiver):
    """The contract receiver, also noting when each accepted request arrived."""

    def __init__(self, secret: str, delay: float) -> None:
        super().__init__(secret)
        self.delay = delay
        self.arrivals: list[float] = []

    def handle(self, method: str, path: str, headers: dict, body: bytes) -> tuple:
        """A request cut short (its sender was SIGKILLed while writing it) is told apart
        from a bad signature, which the contract check would call it."""
        if len(body) < int(headers.get("content-length") or 0):
            return 400, {}, b"", 0.0, TORN
        return super().handle(method, path, headers, body)

    def next_answer(self) -> Answer:
        with self.lock:
            self.arrivals.append(time.monotonic())
        return Answer(200, delay=self.delay)


@dataclass
class Result:
    posted: int = 0
    created: int = 0  # 201s
    replayed: int = 0  # 200s for a LeadId posted again
    per_web: dict[int, int] = field(default_factory=dict)
    bad_answers: list[tuple[int, str]] = field(default_factory=list)
    post_seconds: float = 0.0
    converge_seconds: float = 0.0
    expected_emails: set[str] = field(default_factory=set)
    effect_emails: list[str] = field(default_factory=list)
    raw_requests: int = 0
    raw_duplicates: int = 0
    rejections: list[str] = field(default_factory=list)
    bucket_excess: float = 0.0  # the most requests above what the bucket allows
    busiest_window: int = 0  # the most requests in any one period
    sweeps_sent: int = 0
    sweeps_received: int = 0
    sweeps_allowed: int = 0
    beat_seconds: float = 0.0
    kill_held: int = 0  # rows `sending` when the worker was killed
    drains: dict[str, int] = field(default_factory=dict)  # delivery tasks per worker

    @property
    def lost(self) -> int:
        return len(self.expected_emails - set(self.effect_emails))

    @property
    def duplicate_effects(self) -> int:
        return len(self.effect_emails) - len(set(self.effect_emails))

    def lines(self, size: Size) -> list[str]:
        return [
            f"{self.posted} posts ({self.created} leads, {self.replayed} replays) to 2 web "
            f"processes {sorted(self.per_web.values())} in {self.post_seconds:.1f} s "
            f"({self.posted / self.post_seconds:.0f}/s)",
            f"delivered {len(set(self.effect_emails))}/{len(self.expected_emails)}; lost "
            f"{self.lost}, duplicate effects {self.duplicate_effects}; {self.raw_requests} raw "
            f"requests, {self.raw_duplicates} raw duplicates; last delivery "
            f"{self.converge_seconds:.1f} s after the last post",
            f"rate limit {size.rate_limit}/s: busiest 1 s window {self.busiest_window}, "
            f"most above the token bucket {self.bucket_excess:.2f} requests",
            f"beat: {self.sweeps_sent} sweeps sent over {self.beat_seconds:.1f} s (one schedule "
            f"of {SWEEP_SECONDS:g} s allows {self.sweeps_allowed}), {self.sweeps_received} "
            f"received by the workers",
            f"{self.kill_held} rows were `sending` when the worker was killed; delivery "
            f"tasks per worker {self.drains}",
        ]


def bucket_excess(arrivals: list[float], *, capacity: int, rate: float) -> float:
    """How far the arrivals go beyond a token bucket of `capacity` refilled at `rate` a
    second: the most, over every stretch i..j, of (j - i + 1) - capacity - rate x (t_j - t_i).
    Zero or less: they conform."""
    worst, best_start = float("-inf"), float("-inf")
    for j, t in enumerate(sorted(arrivals)):
        best_start = max(best_start, rate * t - j)  # the start i that leaves the most
        worst = max(worst, (j + 1) - rate * t + best_start - capacity)
    return worst


def busiest_window(arrivals: list[float], seconds: float) -> int:
    times, most, start = sorted(arrivals), 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def lead_body(n: int) -> dict:
    return {
        "UserDetails": {
            "FirstName": f"S{n}",
            "LastName": "Scale",
            "Email": f"s{n}@scale.example",
            "Country": "US",
            "Company": "Scale",
        },
        "LeadSource": "AzureMarketplace-INS|scale.offer",
        "ActionCode": "INS",
        "OfferTitle": "Scale Offer",
        "LeadId": f"scale-{n}",
    }


def marketplace(receiver_url: str, secret: str, rate_limit: int) -> tuple[str, CrmTarget]:
    """A publisher with a published offer and one HTTPS target; a storefront key."""
    publisher = make_publisher(name="Scale Inc", publisher_id="scale")
    publisher.qualification_threshold = 0
    publisher.save()
    listing = make_listing(
        publisher=publisher,
        storefront="azure-marketplace",
        listing_type="offer",
        offer_id="scale.offer",
        name="Scale Offer",
        lead_management_enabled=True,
    )
    catalog_services.listing_publish(listing=listing)
    target = CrmTarget(
        publisher=publisher,
        kind="https",
        name="scale receiver",
        config={"httpsEndpointUrl": receiver_url, "signingSecret": secret},
        rate_limit=rate_limit,
        rate_period_seconds=1,
        batch_size=1,
    )
    target.save()
    key = api_keys.api_key_create(
        kind=ApiKey.Kind.STOREFRONT, name="scale", storefront="azure-marketplace"
    )[1]
    return key, target


class Cluster:
    """The processes, each in its own session with its log in `workdir`."""

    def __init__(self, workdir: Path, redis: RedisServer, size: Size) -> None:
        self.workdir, self.size = workdir, size
        self.env = worker_env(redis, workdir) | {
            "CRM_SWEEP_SECONDS": str(SWEEP_SECONDS),
            "CRM_LEASE_SECONDS": "5",
            "CRM_TARGET_DRAINS": "3",
            "CRM_TOTAL_TIMEOUT": "5",
            "CRM_CONNECT_TIMEOUT": "2",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.web_ports = [free_port(), free_port()]

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> None:
        with open(self.workdir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env or self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_web(self, index: int) -> None:
        env = self.env | {
            "GUNICORN_BIND": f"127.0.0.1:{self.web_ports[index]}",
            "WEB_CONCURRENCY": str(self.size.web_workers),
            "GUNICORN_ACCESS_LOG": "0",
        }
        argv = [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "portal.wsgi"]
        self._spawn(f"web{index}", argv, env)

    def start_worker(self, name: str) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-l", "info"]
        argv += ["-Q", WORKERS[name], "-n", f"{name}@scale", "-c", str(self.size.concurrency)]
        self._spawn(f"worker-{name}", argv)

    def start_beat(self) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "portal", "beat", "-l", "info"]
        self._spawn("beat", [*argv, "-s", str(self.workdir / "celerybeat-schedule")])

    def start(self) -> None:
        for index in range(2):
            self.start_web(index)
        for name in WORKERS:
            self.start_worker(name)
        self.start_beat()
        self.wait_ready(list(WORKERS))
        for port in self.web_ports:
            self._wait_web(port)

    def wait_ready(self, names: list[str], before: dict[str, int] | None = None) -> None:
        deadline = time.monotonic() + 90
        for name in names:
            log = self.workdir / f"worker-{name}.log"
            while not log.exists() or log.read_bytes().count(READY) <= (before or {}).get(name, 0):
                self.assert_running()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {name} not ready:\n{self.log('worker-' + name)}")
                time.sleep(0.2)

    def _wait_web(self, port: int) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            self.assert_running()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"web on {port} did not answer /healthz")

    def assert_running(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}")

    def kill_and_restart(self, name: str, *, pause: float = 1.0) -> None:
        """SIGKILL the worker's whole group (no shutdown of any kind), then start it again
        under the same hostname once it is gone."""
        process = self.processes[f"worker-{name}"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        before = {name: self.log(f"worker-{name}").encode().count(READY)}
        time.sleep(pause)
        self.start_worker(name)
        self.wait_ready([name], before)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def beat_figures(self, result: Result) -> None:
        """Beat's sweeps, from its first to its last: one schedule sends one a period."""
        sent = [
            datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
            for stamp in SWEEP_SENT.findall(self.log("beat"))
        ]
        result.sweeps_sent = len(sent)
        result.beat_seconds = (sent[-1] - sent[0]).total_seconds() if sent else 0.0
        # Rounded, not floored: one beat's ticks land a few ms early or late (17 sweeps
        # 1 s apart logged over 15.98 s); a second beat would double the count.
        result.sweeps_allowed = round(result.beat_seconds / SWEEP_SECONDS) + 1
        received = set()
        for name in WORKERS:
            log = self.log(f"worker-{name}")
            received |= set(SWEEP_RECEIVED.findall(log))
            result.drains[name] = len(set(DRAIN_RECEIVED.findall(log)))
        result.sweeps_received = len(received)


def post_leads(cluster: Cluster, key: str, size: Size, on_progress) -> Result:
    """Every lead once (the first ones in bulk calls, the rest one by one), and one in ten
    posted a second time, over both web processes from `size.clients` threads;
    `on_progress(posted)` runs in the main thread as posts finish."""
    result = Result()
    bulk = size.bulk_calls * BULK_SIZE
    plan: list[list[int]] = [
        list(range(start, start + BULK_SIZE)) for start in range(0, bulk, BULK_SIZE)
    ]
    plan += [[n] for n in range(bulk, size.leads)] + [[n] for n in range(0, size.leads, 10)]
    clients = threading.local()
    lock = threading.Lock()

    def post(job: tuple[int, list[int]]) -> tuple[int, int, str, int]:
        index, numbers = job
        port = cluster.web_ports[index % 2]
        if getattr(clients, "by_port", None) is None:
            clients.by_port = {
                p: httpx.Client(
                    base_url=f"http://127.0.0.1:{p}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                )
                for p in cluster.web_ports
            }
        if len(numbers) == 1:
            body, path = lead_body(numbers[0]), "/api/v1/leads"
        else:
            body, path = [lead_body(n) for n in numbers], "/api/v1/leads/bulk"
        answer = clients.by_port[port].post(path, content=json.dumps(body), headers=JSON)
        return port, answer.status_code, answer.text[:200], len(numbers)

    started = time.monotonic()
    with ThreadPoolExecutor(size.clients) as pool:
        for port, status, text, count in pool.map(post, enumerate(plan)):
            with lock:
                result.posted += count
                result.per_web[port] = result.per_web.get(port, 0) + count
                if count > 1 and status == 200:
                    result.created += count  # a bulk call's leads are all new here
                elif count == 1 and status == 201:
                    result.created += 1
                elif count == 1 and status == 200:
                    result.replayed += 1
                else:
                    result.bad_answers.append((status, text))
            on_progress(result.posted)
    result.post_seconds = time.monotonic() - started
    result.expected_emails = {lead_body(n)["UserDetails"]["Email"] for n in range(size.leads)}
    return result


JSON = {"Content-Type": "application/json"}


def run(workdir: Path, size: Size, converge_seconds: float = 120) -> Result:
    """Start the cluster, post, kill and restart a worker, wait for the deliveries."""
    from crm import services as crm_services
    from crm.models import Delivery
    from portal.celery import app

    redis = RedisServer(workdir)
    redis.start()
    secret = signing.secret_generate()
    receiver = TimedReceiver(secret, size.answer_delay)
    cluster = Cluster(workdir, redis, size)
    broker = app.conf.broker_write_url
    app.conf.broker_write_url = f"redis://127.0.0.1:{redis.port}/0"
    crm_services._wake.connection = None
    try:
        receiver.__enter__()
        key, target = marketplace(receiver.url("/leads"), secret, size.rate_limit)
        cluster.start()
        killed = []

        def chaos(posted: int) -> None:
            """A third of the way in, once the victim is draining the target, kill it."""
            if killed or posted < size.leads // 3:
                return
            deadline = time.monotonic() + 15
            while not DRAIN_RECEIVED.search(cluster.log(f"worker-{VICTIM}")):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            killed.append(Delivery.objects.filter(target=target, status="sending").count())
            cluster.kill_and_restart(VICTIM)

        result = post_leads(cluster, key, size, chaos)
        result.kill_held = killed[0] if killed else -1
        posted_at = time.monotonic()
        deadline = posted_at + converge_seconds
        while time.monotonic() < deadline:
            if not Delivery.objects.filter(target=target).exclude(status="delivered").exists():
                break
            time.sleep(0.25)
        result.converge_seconds = time.monotonic() - posted_at
        time.sleep(SWEEP_SECONDS)  # a last sweep: nothing more may arrive
        cluster.assert_running()
        cluster.beat_figures(result)
    finally:
        cluster.stop()
        receiver.__exit__(None, None, None)
        app.conf.broker_write_url = broker
        crm_services._wake.connection = None
        if redis.process and redis.process.poll() is None:
            redis.shutdown_nosave()
    with receiver.lock:
        result.effect_emails = [body["UserDetails"]["Email"] for body in receiver.effects.values()]
        result.raw_requests = len(receiver.requests)
        result.raw_duplicates = receiver.duplicates
        result.rejections = receiver.rejections()
        arrivals = list(receiver.arrivals)
    result.bucket_excess = bucket_excess(
        arrivals, capacity=size.rate_limit, rate=float(size.rate_limit)
    )
    result.busiest_window = busiest_window(arrivals, 1.0)
    return result
