"""A lead's own fields as plain data, for what leaves the ORM: CRM payloads, nurture emails and
the publisher API's answer."""

from dataclasses import asdict, dataclass, field
from datetime import UTC

from leads.models import Lead, LeadOrigin, LeadStatus

# The lead source a Co-Sell referral carries, on its activity and in every CRM payload.
CO_SELL_SOURCE = "Co-Sell"


def _described(default, description: str):
    """A snapshot field with its default and the description the API document shows."""
    return field(default=default, metadata={"description": description})


@dataclass(frozen=True, kw_only=True)
class LeadSnapshot:
    """A lead's identity, contact fields and standing, detached from the ORM."""

    lead_id: str = field(metadata={"description": "The lead's id (a UUID)."})
    status: LeadStatus = LeadStatus.NEW.value
    score: int = 0
    origin: LeadOrigin = LeadOrigin.MARKETPLACE.value
    is_test: bool = _described(False, "A Partner Center validation lead (MSFT_TEST_…).")
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    country: str = _described("", "ISO 3166-1 alpha-2, or empty.")
    company: str = ""
    title: str = ""
    created_at: str = ""  # UTC ISO 8601

    @classmethod
    def of(cls, lead: Lead) -> "LeadSnapshot":
        """The snapshot of a lead row."""
        copied = {name: getattr(lead, name) for name in SNAPSHOT_COPIED_FIELDS}
        return cls(
            lead_id=str(lead.uuid),
            created_at=lead.created_at.astimezone(UTC).isoformat(),
            **copied,
        )

    def fields(self) -> dict:
        """The snapshot as a dict, in field order."""
        return asdict(self)


# The fields a snapshot takes from the lead row as they are (the others are converted).
SNAPSHOT_COPIED_FIELDS = tuple(
    name for name in LeadSnapshot.__dataclass_fields__ if name not in {"lead_id", "created_at"}
)
