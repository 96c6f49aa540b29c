"""A lead's own fields as plain data, for what leaves the ORM: CRM payloads and nurture emails."""

from dataclasses import asdict, dataclass
from datetime import UTC

from leads.models import Lead

# The lead source a Co-Sell referral carries, on its activity and in every CRM payload.
CO_SELL_SOURCE = "Co-Sell"


@dataclass(frozen=True)
class LeadSnapshot:
    """A lead's identity, contact fields and standing, detached from the ORM."""

    lead_id: str  # the lead's UUID
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    country: str = ""  # ISO 3166 alpha-2
    company: str = ""
    title: str = ""
    score: int = 0
    status: str = Lead.Status.NEW.value
    created_at: str = ""  # UTC ISO 8601
    origin: str = Lead.Origin.MARKETPLACE.value
    is_test: bool = False

    @classmethod
    def of(cls, lead: Lead) -> "LeadSnapshot":
        return cls(
            lead_id=str(lead.uuid),
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone=lead.phone,
            country=lead.country,
            company=lead.company,
            title=lead.title,
            score=lead.score,
            status=lead.status,
            created_at=lead.created_at.astimezone(UTC).isoformat(),
            origin=lead.origin,
            is_test=lead.is_test,
        )

    def fields(self) -> dict:
        return asdict(self)
