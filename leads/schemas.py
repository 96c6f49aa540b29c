"""The intake payload: Partner Center's lead JSON, validated with pydantic.

Partner Center's own samples mix `UserDetails` and `userDetails`, and its receivers read
keys case-insensitively, so keys are matched without regard to case. Unknown keys are
ignored (the raw payload is kept on the activity). Every string has a length bound.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import pycountry
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

TEST_LEAD_MARKER = "MSFT_TEST_"

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Medium = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]

USER_DETAILS_KEYS = ("FirstName", "LastName", "Email", "Phone", "Country", "Company", "Title")
LEAD_KEYS = (
    "UserDetails",
    "LeadSource",
    "ActionCode",
    "OfferTitle",
    "Description",
    "LeadId",
    "OfferId",
    "CampaignCode",
    "MarketingConsent",
    "CreatedTime",
)


def canonical_keys(data: Any, names: tuple[str, ...]) -> Any:
    """Rename the keys of a dict to their canonical case; drop the ones we do not know."""
    if not isinstance(data, dict):
        return data
    by_lower = {name.lower(): name for name in names}
    renamed: dict[str, Any] = {}
    for key, value in data.items():
        canonical = by_lower.get(str(key).lower())
        if canonical is not None and (value is not None or canonical not in renamed):
            renamed[canonical] = value
    return renamed


def normalize_country(value: str) -> str:
    """ISO 3166-1 alpha-2 from an alpha-2 or alpha-3 code or an English country name."""
    value = value.strip()
    if not value:
        return ""
    try:
        country = pycountry.countries.lookup(value)
    except LookupError:
        fuzzy = {"usa": "US", "uk": "GB", "great britain": "GB", "england": "GB"}
        if value.lower() in fuzzy:
            return fuzzy[value.lower()]
        raise PydanticCustomError(
            "country",
            "Unknown country: use an ISO 3166 alpha-2 or alpha-3 code, or the English name.",
        ) from None
    return country.alpha_2


class UserDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    FirstName: Short = ""
    LastName: Short = ""
    Email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    Phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] = ""
    Country: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    Company: Medium = ""
    Title: Medium = ""

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        return canonical_keys(data, USER_DETAILS_KEYS)

    @field_validator("Email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise PydanticCustomError("email", "Enter a valid email address.") from None
        return value

    @field_validator("Country")
    @classmethod
    def _country(cls, value: str) -> str:
        return normalize_country(value)

    @field_validator("FirstName", "LastName", "Phone", "Company", "Title", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class LeadPayload(BaseModel):
    """One lead as Partner Center posts it, plus our optional additions."""

    model_config = ConfigDict(extra="ignore")

    UserDetails: UserDetails
    LeadSource: Long = ""
    ActionCode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    OfferTitle: Medium = ""
    Description: Annotated[str, StringConstraints(max_length=4000)] = ""
    LeadId: Medium | None = None
    OfferId: Medium | None = None
    CampaignCode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = (
        None
    )
    MarketingConsent: bool | None = None
    CreatedTime: datetime | None = Field(default=None, description="ISO 8601; UTC if no offset.")

    # The keys this payload knows, in their canonical case (a subclass may add some).
    known_keys: ClassVar[tuple[str, ...]] = LEAD_KEYS

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        return canonical_keys(data, cls.known_keys)

    @field_validator("LeadSource", "ActionCode", "OfferTitle", "Description", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("LeadId", "OfferId", "CampaignCode")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("CreatedTime")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @property
    def is_test(self) -> bool:
        details = self.UserDetails
        return any(
            value.upper().startswith(TEST_LEAD_MARKER)
            for value in (details.Email, details.FirstName, details.LastName, self.LeadSource)
        )


_LEAD_SOURCE = re.compile(r"^(?P<source>[^|-]*)(?:-(?P<action>[^|]*))?(?:\|(?P<offer>.*))?$")


def parse_lead_source(lead_source: str) -> tuple[str, str, str]:
    """Split `Source-Action|Offer` (or a plain `Source`) into its three parts."""
    match = _LEAD_SOURCE.match(lead_source.strip())
    if not match:
        return lead_source.strip(), "", ""
    return (
        (match["source"] or "").strip(),
        (match["action"] or "").strip(),
        (match["offer"] or "").strip(),
    )


class IntakeAnswer(Schema):
    """What intake answers for one lead."""

    id: str = Field(description="The lead's id (a UUID).")
    status: str
    score: int
    consolidated: bool = Field(description="True when the activity joined an existing lead.")


class BulkItemAnswer(Schema):
    index: int
    status_code: int = Field(description="201 created, 200 replayed, 422 refused.")
    result: IntakeAnswer | None = None
    errors: list[dict] | None = None


class BulkAnswer(Schema):
    created: int
    replayed: int
    failed: int
    results: list[BulkItemAnswer]


class ErrorDetail(Schema):
    loc: list[str | int]
    msg: str
    type: str


class ErrorAnswer(Schema):
    detail: list[ErrorDetail] | str
