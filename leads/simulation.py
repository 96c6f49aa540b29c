"""Realistic storefront traffic: Partner Center lead payloads from a seeded generator.

`simulate_storefront` posts these through the real HTTP API, and the intake benchmark
reuses them. The generator is pure: a `random.Random` and a clock in, payload dicts
out, so one seed always gives the same leads. The only database read is
`targets_published`, which lists the listings a storefront may post leads for.

The mix follows reference/partner-center-leads.md §1.2–1.4:
- each storefront's own action codes (AppSource: PLT, INS, DNC, StartTestDrive; Azure
  Marketplace: INS, Create, StartTestDrive) with their sources (AppSource,
  AzureMarketplace, AzurePortal, TestDrive);
- `LeadSource` as `Source-Action|Offer` (offer by display name or `publisherid.offerid`),
  else the plain source with the offer in `OfferTitle` or `OfferId`;
- returning visitors (an earlier email, a new activity), some of them a storefront
  re-sending an earlier lead with its `LeadId` (idempotency);
- a few bad payloads (bad email, unknown country, unknown offer) and `MSFT_TEST_`
  validation leads.
Every address is on a reserved `.example` domain, so no nurture email can reach a real
inbox; only Partner Center's own test leads keep their `@test.com`.
"""

import functools
import json
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from random import Random

APPSOURCE = "appsource"
AZURE_MARKETPLACE = "azure-marketplace"
STOREFRONTS = (APPSOURCE, AZURE_MARKETPLACE)

# ((source, action), weight) per storefront.
ACTIONS: dict[str, tuple[tuple[tuple[str, str], int], ...]] = {
    APPSOURCE: (
        (("AppSource", "PLT"), 40),
        (("AppSource", "INS"), 30),
        (("AppSource", "DNC"), 15),
        (("TestDrive", "StartTestDrive"), 10),
        (("AppSource", "StartTestDrive"), 5),
    ),
    AZURE_MARKETPLACE: (
        (("AzureMarketplace", "INS"), 40),
        (("AzurePortal", "Create"), 35),
        (("TestDrive", "StartTestDrive"), 15),
        (("AzureMarketplace", "StartTestDrive"), 10),
    ),
}
ACTION_CHOICES = {
    storefront: (tuple(a for a, _ in mix), tuple(w for _, w in mix))
    for storefront, mix in ACTIONS.items()
}
PLAIN_SOURCE = {APPSOURCE: "AppSource", AZURE_MARKETPLACE: "AzureMarketplace"}

FIRST_NAMES = tuple(
    "Ada Alan Grace Linus Margaret Katherine Tim Barbara Radia Frances Hedy Anita Satya Amy "
    "Priya Arjun Wei Mei Hiroshi Yuki Sofia Mateo Lucía Diego Camila Javier Elena Pablo "
    "Carmen Lars Ingrid Sven Jan Anna Piotr Zofia Fatima Omar Aisha Chiara Marco Giulia "
    "Chloé Louis Emma Noah Olivia Liam Kwame Zanele Thabo Ananya Rohan Leila José Björn".split()
)
LAST_NAMES = tuple(
    "Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez López "
    "González Wilson Anderson Taylor Moore Martin Lee Thompson White Clark Walker Young "
    "King Wright Scott Torres Nguyen Hill Green Adams Baker Müller Schmidt Fischer Weber "
    "Rossi Ferrari Dubois Moreau Kowalski Nowak Jansen Visser Nilsson Tanaka Suzuki Kim "
    "Park Patel Sharma Singh Okafor Mensah Dlamini Haddad Khan Silva Santos O'Brien".split()
)
COMPANIES = (
    "Adventure Works", "Alpine Ski House", "A. Datum Corporation", "Blue Yonder Airlines",
    "City Power & Light", "Coho Winery", "Consolidated Messenger", "Fourth Coffee",
    "Humongous Insurance", "Lamna Healthcare", "Litware", "Lucerne Publishing",
    "Margie's Travel", "Nod Publishers", "Proseware", "Relecloud", "Southridge Video",
    "Tailspin Toys", "Tailwind Traders", "Trey Research", "VanArsdel", "Wide World Importers",
    "Wingtip Toys", "Woodgrove Bank", "Contoso Pharmaceuticals", "Fabrikam Residences",
)  # fmt: skip
TITLES = (
    "CTO", "CIO", "Chief Data Officer", "VP of Engineering", "Director of IT", "Head of Data",
    "Founder", "Owner", "IT Manager", "Solutions Architect", "Cloud Architect",
    "Software Engineer", "Data Engineer", "DevOps Engineer", "Security Engineer",
    "Procurement Specialist", "Product Manager", "Marketing Manager", "Consultant", "",
)  # fmt: skip
# (alpha-2, alpha-3, English name, calling code, weight)
COUNTRIES = (
    ("US", "USA", "United States", "1", 30), ("GB", "GBR", "United Kingdom", "44", 8),
    ("DE", "DEU", "Germany", "49", 8), ("IN", "IND", "India", "91", 8),
    ("FR", "FRA", "France", "33", 5), ("CA", "CAN", "Canada", "1", 5),
    ("AU", "AUS", "Australia", "61", 4), ("BR", "BRA", "Brazil", "55", 4),
    ("JP", "JPN", "Japan", "81", 4), ("NL", "NLD", "Netherlands", "31", 3),
    ("ES", "ESP", "Spain", "34", 3), ("IT", "ITA", "Italy", "39", 3),
    ("SE", "SWE", "Sweden", "46", 2), ("MX", "MEX", "Mexico", "52", 2),
    ("SG", "SGP", "Singapore", "65", 2), ("ZA", "ZAF", "South Africa", "27", 2),
    ("CH", "CHE", "Switzerland", "41", 2), ("PL", "POL", "Poland", "48", 2),
    ("IE", "IRL", "Ireland", "353", 1), ("KR", "KOR", "Korea, Republic of", "82", 1),
)  # fmt: skip
COUNTRY_WEIGHTS = tuple(country[4] for country in COUNTRIES)
PERSONAL_DOMAINS = ("mail.example", "inbox.example", "home.example")
CONTACT_NOTES = (
    "We are evaluating options for about 50 seats. Please send pricing.",
    "Interested in a proof of concept next quarter.",
    "Can you integrate with our existing Dynamics 365 tenant?",
    "Looking for a partner in our region to run the rollout.",
    "",
)
# What Partner Center really puts in Description when the customer wrote nothing (#70675).
EMPTY_DESCRIPTIONS = ("", "", "", " ", "Campaigns: ")
BAD_EMAILS = ("jane.doe@", "not-an-email", "ana perez@contoso.example", "@fabrikam.example")
BAD_COUNTRIES = ("Atlantis", "ZZ", "Narnia", "Gondor")
TEST_LEAD_MARKER = "MSFT_TEST_"


@dataclass(frozen=True)
class Target:
    """A listing that storefront traffic can name."""

    offer_id: str
    name: str
    storefront: str


@dataclass(frozen=True)
class Mix:
    """The shares of each kind of lead; the remainder are first-time visitors."""

    repeat: float = 0.20  # an earlier visitor comes back (an earlier email)
    replay: float = 0.25  # of the repeats: the storefront re-sends an earlier lead as is
    bad: float = 0.02  # bad email, unknown country or unknown offer
    test: float = 0.01  # Partner Center's MSFT_TEST_ validation lead
    lead_id: float = 0.85  # leads that carry a LeadId
    consent: tuple[float, float] = (0.5, 0.3)  # MarketingConsent true, false (else absent)


class Kind(StrEnum):
    NEW = "new"
    REPEAT = "repeat"
    REPLAY = "replay"
    TEST = "test"
    BAD = "bad"


EXPECTED_STATUS = {Kind.REPLAY: 200, Kind.BAD: 422}


@dataclass(frozen=True)
class SimulatedLead:
    storefront: str
    payload: dict
    kind: Kind
    defect: str = ""  # for a bad lead: "email", "country" or "offer"

    @property
    def expected_status(self) -> int:
        return EXPECTED_STATUS.get(self.kind, 201)

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False).encode()


@dataclass
class _Visitor:
    person: dict
    target: Target


@functools.cache  # names and companies come from short lists
def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


def person_make(rng: Random) -> dict:
    """A realistic contact: name, company address, title, country and phone."""
    first, last, company = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(COMPANIES)
    alpha2, alpha3, name, calling_code, _ = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
    local = rng.choice(
        (f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)[0]}{_ascii(last)}", _ascii(first))
    )
    if rng.random() < 0.35:
        local += str(rng.randint(2, 999))
    domain = _ascii(company) + ".example"
    if rng.random() < 0.1:
        domain = rng.choice(PERSONAL_DOMAINS)
    country = rng.choices((alpha2, alpha3, name), (80, 10, 10))[0]
    phone = ""
    if rng.random() < 0.55:
        phone = f"+{calling_code} {rng.randint(200, 989)} 555 {rng.randint(0, 9999):04d}"
    return {
        "FirstName": first,
        "LastName": last,
        "Email": f"{local}@{domain}",
        "Phone": phone,
        "Country": country,
        "Company": company,
        "Title": rng.choice(TITLES),
    }


class LeadGenerator:
    """An endless, seeded stream of storefront leads for the given targets."""

    def __init__(
        self,
        rng: Random,
        targets: list[Target],
        *,
        mix: Mix | None = None,
        clock: Callable[[], datetime] | None = None,
        memory: int = 5000,
    ):
        if not targets:
            raise ValueError("No target listing: publish a listing with lead management first.")
        self.rng = rng
        self.targets = list(targets)
        self.mix = mix or Mix()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.memory = memory
        self.visitors: list[_Visitor] = []
        self.resendable: list[SimulatedLead] = []
        self.serial = 0
        names = Counter((t.storefront, t.name.lower()) for t in self.targets)
        # A display name names the listing only when it is unique on its storefront and
        # cannot be mistaken for an offer id (intake reads `a.b` without spaces as an id).
        self.name_usable = {
            t: names[(t.storefront, t.name.lower())] == 1 and (" " in t.name or "." not in t.name)
            for t in self.targets
        }

    def take(self, count: int) -> list[SimulatedLead]:
        return [self.next() for _ in range(count)]

    def next(self) -> SimulatedLead:
        self.serial += 1
        roll, mix = self.rng.random(), self.mix
        if roll < mix.bad:
            return self._bad()
        if roll < mix.bad + mix.test:
            return self._test()
        if roll < mix.bad + mix.test + mix.repeat and self.visitors:
            if self.resendable and self.rng.random() < mix.replay:
                earlier = self.rng.choice(self.resendable)
                return SimulatedLead(earlier.storefront, dict(earlier.payload), Kind.REPLAY)
            return self._visit(self.rng.choice(self.visitors), Kind.REPEAT)
        return self._visit(_Visitor(person_make(self.rng), self.rng.choice(self.targets)))

    def _visit(self, visitor: _Visitor, kind: Kind = Kind.NEW) -> SimulatedLead:
        rng = self.rng
        if kind is Kind.REPEAT:
            if rng.random() < 0.4:  # another listing this time
                visitor.target = rng.choice(self.targets)
            if rng.random() < 0.1:  # a promotion since the last visit
                visitor.person = visitor.person | {"Title": rng.choice(TITLES)}
        else:
            self._remember(self.visitors, visitor)
        lead = SimulatedLead(visitor.target.storefront, self._payload(visitor), kind)
        if "LeadId" in lead.payload:
            self._remember(self.resendable, lead)
        return lead

    def _remember(self, memory: list, item) -> None:
        if len(memory) >= self.memory:
            memory[self.rng.randrange(len(memory))] = item
        else:
            memory.append(item)

    def _payload(self, visitor: _Visitor) -> dict:
        rng, target = self.rng, visitor.target
        actions, weights = ACTION_CHOICES[target.storefront]
        source, action = rng.choices(actions, weights)[0]
        payload = {
            "UserDetails": dict(visitor.person),
            "LeadSource": source,
            "ActionCode": action,
            "OfferTitle": target.name,
            "Description": self._description(action),
        }
        form = rng.random()
        if form < 0.65:
            offer = target.name if self.name_usable[target] and rng.random() < 0.6 else None
            payload["LeadSource"] = f"{source}-{action}|{offer or target.offer_id}"
        elif form >= 0.85 or not self.name_usable[target]:
            payload["OfferId"] = target.offer_id  # else the plain source, and OfferTitle
        if rng.random() < self.mix.lead_id:
            payload["LeadId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        yes, no = self.mix.consent
        consent = rng.random()
        if consent < yes + no:
            payload["MarketingConsent"] = consent < yes
        if rng.random() < 0.3:
            created = self.clock() - timedelta(seconds=rng.uniform(0, 300))
            payload["CreatedTime"] = created.isoformat(timespec="seconds")
        return payload

    def _description(self, action: str) -> str:
        rng = self.rng
        if action == "PLT":
            return rng.choice(CONTACT_NOTES)
        if rng.random() < 0.1:  # AppSource passes URL marketing parameters as JSON
            return json.dumps({"mktcmpid": str(rng.randint(1000, 9999)), "partnerid": "98765"})
        return rng.choice(EMPTY_DESCRIPTIONS)

    def _test(self) -> SimulatedLead:
        """A validation lead exactly as Partner Center sends it (note `userDetails`)."""
        token = f"{TEST_LEAD_MARKER}{self.rng.randrange(10**17, 10**18)}"
        target = self.rng.choice(self.targets)
        source = PLAIN_SOURCE[target.storefront]
        if self.rng.random() < 0.5:  # the Web-to-Lead form of the same lead
            source = f"{token}-{token}|{target.name}"
        details = dict.fromkeys(("FirstName", "LastName", "Company", "Title"), token)
        details |= {"Email": f"{token}@test.com", "Phone": "1234567890", "Country": "US"}
        payload = {
            "userDetails": details,
            "LeadSource": source,
            "ActionCode": "INS",
            "OfferTitle": target.name,
            "Description": token,
        }
        if not self.name_usable[target]:
            payload["OfferId"] = target.offer_id
        return SimulatedLead(target.storefront, payload, Kind.TEST)

    def _bad(self) -> SimulatedLead:
        visitor = _Visitor(person_make(self.rng), self.rng.choice(self.targets))
        payload = self._payload(visitor)
        defect = self.rng.choice(("email", "country", "offer"))
        if defect == "email":
            payload["UserDetails"]["Email"] = self.rng.choice(BAD_EMAILS)
        elif defect == "country":
            payload["UserDetails"]["Country"] = self.rng.choice(BAD_COUNTRIES)
        else:
            retired = f"retired{self.serial}.discontinued-offer-{self.rng.randint(1, 999)}"
            payload["OfferId"] = retired
            payload["LeadSource"] = f"{PLAIN_SOURCE[visitor.target.storefront]}-INS|{retired}"
        return SimulatedLead(visitor.target.storefront, payload, Kind.BAD, defect=defect)


# --- Pacing and tallies (used by the command and the benchmark) ------------------------

_RATE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*(?:/\s*(?P<unit>s|sec|m|min|h))?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600}


def parse_rate(text: str) -> float:
    """Leads per second from `5/s`, `300/m`, `1000/h` or a bare number (per second)."""
    match = _RATE.match(text)
    if not match or float(match["n"]) <= 0:
        raise ValueError(f"Not a rate: {text!r}. Write it as 5/s, 300/m or 1000/h.")
    return float(match["n"]) * _PER_SECOND[match["unit"]]


@dataclass
class Tally:
    """What the storefront got back: answers by status, and failures by cause."""

    sent: int = 0
    by_status: Counter = field(default_factory=Counter)
    unexpected: int = 0  # answers that differ from what the generator expected
    failures: Counter = field(default_factory=Counter)

    def record(self, lead: SimulatedLead, status: int | None, failure: str = "") -> None:
        self.sent += 1
        if status is None:
            self.failures[failure] += 1
        else:
            self.by_status[status] += 1
            if status not in (201, 200, 422):
                self.failures[f"HTTP {status}"] += 1
        if status != lead.expected_status:
            self.unexpected += 1

    @property
    def other(self) -> int:
        return self.sent - sum(self.by_status[code] for code in (201, 200, 422))

    def line(self, elapsed: float) -> str:
        rate = self.sent / elapsed if elapsed > 0 else 0.0
        return (
            f"sent {self.sent}, 201: {self.by_status[201]}, 200: {self.by_status[200]}, "
            f"422: {self.by_status[422]}, other: {self.other}, {rate:.1f} leads/s"
        )


def targets_published(*, storefronts: tuple[str, ...] = STOREFRONTS) -> list[Target]:
    """The published, lead-managed listings of these storefronts (reads the database)."""
    from leads.models import Listing

    rows = (
        Listing.objects.filter(
            storefront__in=storefronts,
            status=Listing.Status.PUBLISHED,
            lead_management_enabled=True,
        )
        .order_by("storefront", "offer_id")
        .values_list("offer_id", "name", "storefront")
    )
    return [Target(*row) for row in rows]


def storefront_of_key(key: str) -> str | None:
    """The storefront of a live storefront key, or None (reads the database)."""
    from leads.intake import api_keys
    from leads.models import ApiKey

    return (
        ApiKey.objects.filter(
            key_hash=api_keys.key_hash(key), kind=ApiKey.Kind.STOREFRONT, revoked_at__isnull=True
        )
        .values_list("storefront", flat=True)
        .first()
    )
