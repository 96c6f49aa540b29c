"""What every connector takes and returns. Plain Python: no Django, no ORM (STYLE).

A connector renders canonical delivery payloads into its CRM's format, sends them (in
batches where the CRM has a batch API) and answers one Result per payload, in order:
delivered, retryable (with an optional delay), or permanent (with a readable reason).
"""

from dataclasses import dataclass, field
from typing import Literal, Protocol

Outcome = Literal["delivered", "retryable", "permanent"]

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 30.0


@dataclass(frozen=True)
class DeliveryPayload:
    """The canonical lead a delivery carries (reference/crm-contracts.md, Common)."""

    delivery_id: str  # a UUID, the same on every retry (webhook-id, RowKey, alternate key)
    event: str  # lead.qualified, lead.updated, test
    lead_id: str  # the lead's UUID
    first_name: str
    last_name: str
    email: str
    phone: str
    country: str  # ISO 3166 alpha-2
    company: str
    title: str
    storefront: str  # appsource, azure-marketplace
    action_code: str
    lead_source: str  # Partner Center's "Source-Action|Offer", or "Co-Sell"
    offer_id: str  # publisherid.offerid
    offer_title: str
    publisher_id: str
    publisher_name: str
    description: str
    campaign_code: str
    score: int
    status: str
    created_at: str  # UTC ISO 8601
    origin: str  # marketplace, co-sell
    is_test: bool = False
    extra_fields: dict = field(default_factory=dict)  # the target's constant extra fields


@dataclass(frozen=True)
class Result:
    delivery_id: str
    outcome: Outcome
    status_code: int | None = None
    error: str = ""  # readable, never a secret or a lead's email
    retry_after: float | None = None  # seconds the CRM asked us to wait
    response_excerpt: str = ""  # at most 500 characters of the answer
    erasure: str = ""  # an erasure's effect: deleted, absent, converted or signalled

    @property
    def is_delivered(self) -> bool:
        return self.outcome == "delivered"


@dataclass(frozen=True)
class SendOptions:
    """What the caller decides, not the connector: guards and timeouts."""

    allow_private_targets: bool = False  # CRM_ALLOW_PRIVATE_TARGETS (tests, DEBUG first run)
    require_https: bool = True  # False only with DEBUG on
    connect_timeout: float = CONNECT_TIMEOUT
    total_timeout: float = TOTAL_TIMEOUT


@dataclass(frozen=True)
class ErasureRequest:
    """One erasure owed to a target: what it needs to find the record, no more."""

    delivery_id: str  # the erasure delivery's UUID (webhook-id of the lead.erased event)
    lead_id: str  # the lead's UUID
    publisher_id: str  # the marketplace publisher id (the Azure Table partition)
    lookup: dict  # kind-specific: an email, an alternate key, entity or row keys


class Eraser(Protocol):
    kind: str

    def erase(
        self, config: dict, requests: list[ErasureRequest], options: SendOptions
    ) -> list[Result]:
        """Remove (or announce the removal of) each request's record; one Result per
        request, in order, with `erasure` set when delivered. Never raises."""
        ...


class ConfigurationError(Exception):
    """The target's configuration cannot work; a permanent, readable failure."""


class Connector(Protocol):
    kind: str

    def send(
        self, config: dict, payloads: list[DeliveryPayload], options: SendOptions
    ) -> list[Result]:
        """Send the payloads; one Result per payload, in order. Never raises for a
        transport or CRM error: those become retryable or permanent Results."""
        ...


def user_details(payload: DeliveryPayload) -> dict:
    """The contact as Partner Center keys it (its UserDetails, Azure Table's CustomerInfo)."""
    return {
        "FirstName": payload.first_name,
        "LastName": payload.last_name,
        "Email": payload.email,
        "Phone": payload.phone,
        "Country": payload.country,
        "Company": payload.company,
        "Title": payload.title,
    }


def excerpt(text: str, limit: int = 500) -> str:
    return text[:limit]


def all_results(payloads: list, outcome: Outcome, **fields) -> list[Result]:
    """The same result for every payload of a batch (a batch-level failure)."""
    return [Result(delivery_id=p.delivery_id, outcome=outcome, **fields) for p in payloads]
