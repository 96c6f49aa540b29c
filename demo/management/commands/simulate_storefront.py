"""Post realistic storefront leads through the real HTTP API, at a given rate and mix.

    python manage.py simulate_storefront --create-key                 # 1,000 leads at 5/s
    python manage.py simulate_storefront --key lpk_sf_… --rate 300/m --count 0   # until Ctrl-C
    python manage.py simulate_storefront --create-key --bulk 500 --rate 1000/s --seed 7

The payloads come from `demo.simulation` (Partner Center's JSON; action codes, sources,
returning visitors, replays, bad payloads and MSFT_TEST_ leads in realistic shares). The
listings to name are read from the database, so run it against the server's database.
"""

import logging
import random
import signal
import threading
import time
from collections import defaultdict
from contextlib import contextmanager

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo import selectors, simulation
from demo.log_filters import BAD_LEAD_HEADER, BAD_LEAD_VALUE
from demo.simulation import SimulatedLead, Tally
from leads.intake import api_keys
from leads.models import ApiKey

RESTART_AFTER_LAG = 1.0  # seconds behind schedule after which pacing restarts, not bursts
MAX_BULK = 1000


class KeyRefused(Exception):
    """The server answered 401: every further lead would be refused too."""


class Poster:
    """Posts leads over one keep-alive connection pool, with each storefront's key."""

    def __init__(self, client: httpx.Client, keys: dict[str, str]):
        self.client = client
        self.keys = keys

    def _post(self, path: str, storefront: str, body: bytes, *, bad: bool = False):
        headers = {
            "Authorization": f"Bearer {self.keys[storefront]}",
            "Content-Type": "application/json",
        }
        if bad:  # refused on purpose: the server counts it instead of warning
            headers[BAD_LEAD_HEADER] = BAD_LEAD_VALUE
        response = self.client.post(path, content=body, headers=headers)
        if response.status_code == 401:
            raise KeyRefused(f"The server refused the {storefront} key (401).")
        return response

    def single(self, lead: SimulatedLead) -> tuple[int | None, str]:
        try:
            bad = lead.kind == simulation.Kind.BAD
            response = self._post("/api/v1/leads", lead.storefront, lead.body(), bad=bad)
            return response.status_code, ""
        except httpx.HTTPError as exc:
            return None, type(exc).__name__

    def bulk(self, leads: list[SimulatedLead]) -> list[tuple[int | None, str]]:
        """One POST per storefront; each lead gets its own item's status."""
        groups: dict[str, list[int]] = defaultdict(list)
        for index, lead in enumerate(leads):
            groups[lead.storefront].append(index)
        answers: list[tuple[int | None, str]] = [(None, "")] * len(leads)
        for storefront, indexes in groups.items():
            body = b"[" + b",".join(leads[i].body() for i in indexes) + b"]"
            try:
                response = self._post("/api/v1/leads/bulk", storefront, body)
            except httpx.HTTPError as exc:
                for i in indexes:
                    answers[i] = (None, type(exc).__name__)
                continue
            if response.status_code != 200:
                for i in indexes:
                    answers[i] = (response.status_code, "")
                continue
            for i, item in zip(indexes, response.json()["results"], strict=True):
                answers[i] = (item["status_code"], "")
        return answers


@contextmanager
def _stop_on_sigterm():
    """SIGTERM (honcho stopping `make run`) ends the run like Ctrl-C: summary, keys revoked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(BaseCommand):
    help = (
        "Post realistic marketplace leads to POST /api/v1/leads at a given rate, and print "
        "what the server answered."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rate", default="5/s", help="Leads per second: 5/s, 300/m, 1000/h.")
        parser.add_argument(
            "--count", type=int, default=1000, help="Leads to post; 0 posts until Ctrl-C."
        )
        parser.add_argument(
            "--storefront",
            choices=simulation.STOREFRONTS,
            help="Only this storefront's listings (default: both).",
        )
        parser.add_argument("--url", default="", help="Default: settings.PORTAL_BASE_URL.")
        parser.add_argument(
            "--key",
            action="append",
            default=[],
            help="A storefront key; repeat it for both storefronts.",
        )
        parser.add_argument(
            "--create-key",
            action="store_true",
            help="Create a key for each storefront that has none; revoked when done.",
        )
        parser.add_argument("--seed", type=int, help="Make the leads reproducible.")
        parser.add_argument(
            "--bulk", type=int, default=0, help=f"Post batches of N (at most {MAX_BULK})."
        )
        parser.add_argument(
            "--wait", type=float, default=30.0, help="Seconds to wait for the server to answer."
        )
        parser.add_argument(
            "--progress", type=float, default=5.0, help="Seconds between running tallies."
        )

    def handle(self, *args, **options):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the tally says it all
        try:
            rate = simulation.parse_rate(options["rate"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not 0 <= options["bulk"] <= MAX_BULK or options["count"] < 0:
            raise CommandError(f"--bulk takes 1 to {MAX_BULK}; --count 0 or more.")
        storefronts = (options["storefront"],) if options["storefront"] else simulation.STOREFRONTS
        targets = selectors.targets_published(storefronts=storefronts)
        if not targets:
            raise CommandError(
                "No published listing with lead management on "
                f"{', '.join(storefronts)}: run `manage.py seed_demo` first."
            )
        keys, created = self._keys(options, {t.storefront for t in targets})
        try:
            targets = [t for t in targets if t.storefront in keys]
            seed = options["seed"]
            if seed is None:
                seed = random.SystemRandom().randrange(2**32)
            rng = random.Random(seed)  # noqa: S311 (reproducible traffic, not secrets)
            generator = simulation.LeadGenerator(rng, targets)
            url = (options["url"] or settings.PORTAL_BASE_URL).rstrip("/")
            self.stdout.write(
                f"Posting {options['count'] or 'unlimited'} leads at {rate:g}/s to {url} for "
                f"{len(targets)} listings on {', '.join(sorted(keys))} (seed {seed})."
            )
            self._simulate(generator, keys, url=url, rate=rate, options=options)
        finally:
            for api_key in created:
                api_keys.api_key_revoke(api_key=api_key)

    def _keys(self, options, storefronts: set[str]) -> tuple[dict[str, str], list[ApiKey]]:
        """Each storefront's key: given ones by their storefront, else created ones."""
        keys: dict[str, str] = {}
        for key in options["key"]:
            storefront = selectors.storefront_of_key(key=key) or options["storefront"]
            if storefront is None:
                raise CommandError(
                    f"The key {key[:11]}… is not a live storefront key in this database; "
                    "name its storefront with --storefront."
                )
            keys[storefront] = key
        created = []
        if options["create_key"]:
            for storefront in sorted(storefronts - keys.keys()):
                api_key, keys[storefront] = api_keys.api_key_create(
                    kind=ApiKey.Kind.STOREFRONT, name="simulate_storefront", storefront=storefront
                )
                created.append(api_key)
        missing = storefronts - keys.keys()
        if not keys:
            raise CommandError("Give a storefront key with --key, or use --create-key.")
        if missing:
            self.stderr.write(f"No key for {', '.join(sorted(missing))}: its listings are skipped.")
        return keys, created

    def _simulate(self, generator, keys, *, url: str, rate: float, options) -> Tally:
        tally = Tally()
        timeout = httpx.Timeout(30.0 if options["bulk"] else 10.0, connect=3.0)
        limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
        started = time.monotonic()
        with (
            _stop_on_sigterm(),
            httpx.Client(base_url=url, timeout=timeout, limits=limits) as client,
        ):
            try:
                self._wait_for(client, url, options["wait"])
                poster, started = Poster(client, keys), time.monotonic()
                self._pace(generator, poster, tally, rate=rate, options=options)
            except KeyboardInterrupt:
                self.stdout.write("Interrupted.")
            except KeyRefused as exc:
                self._summary(tally, time.monotonic() - started)
                raise CommandError(str(exc)) from exc
        self._summary(tally, time.monotonic() - started)
        return tally

    def _wait_for(self, client: httpx.Client, url: str, wait: float) -> None:
        """Until the server answers anything at all (`make run` starts it alongside)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                client.get("/healthz", timeout=3.0)
                return
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(f"No server answers at {url}: {exc}.") from exc
                time.sleep(0.5)

    def _pace(self, generator, poster: Poster, tally: Tally, *, rate: float, options) -> None:
        """Send on a monotonic schedule; a server that falls behind is not burst at."""
        count, batch = options["count"], options["bulk"] or 1
        started = due = last_report = time.monotonic()
        while not count or tally.sent < count:
            size = min(batch, count - tally.sent) if count else batch
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            elif now - due > RESTART_AFTER_LAG:
                due = now
            leads = generator.take(size)
            answers = poster.bulk(leads) if options["bulk"] else [poster.single(leads[0])]
            for lead, (status, failure) in zip(leads, answers, strict=True):
                tally.record(lead, status, failure)
            due += size / rate
            if time.monotonic() - last_report >= options["progress"]:
                last_report = time.monotonic()
                self.stdout.write(tally.line(last_report - started))

    def _summary(self, tally: Tally, elapsed: float) -> None:
        self.stdout.write(f"Summary: {tally.line(elapsed)} over {elapsed:.1f} s.")
        self.stdout.write(f"Answers other than the generator expected: {tally.unexpected}.")
        for failure, number in tally.failures.most_common():
            self.stdout.write(f"  {failure}: {number}")
