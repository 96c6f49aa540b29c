"""The intake payload: Partner Center's lead JSON, validated with pydantic.

Partner Center's own samples mix `UserDetails` and `userDetails`, and its receivers read
keys case-insensitively, so keys are matched without regard to case. Unknown keys are
ignored (the raw payload is kept on the activity, checked by leads.intake.payload_limits).
Every string has a length bound and must be storable text: single-line fields allow no
control character, free text (Description) allows tab and line breaks.
"""

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

import pycountry
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from leads.intake.payload_limits import (
    check_multiline,
    check_single_line,
    datetime_text,
    utc_datetime,
)

TEST_LEAD_MARKER = "MSFT_TEST_"


def single_line(max_length: int, min_length: int | None = None) -> Any:
    """A stripped, length-bounded string without control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(check_single_line),
    ]


Short = single_line(100)
Medium = single_line(200)
Long = single_line(500)
Code = single_line(40)
CampaignCodeText = single_line(64)
PhoneText = single_line(50)
CountryText = single_line(60)
FreeText = Annotated[str, StringConstraints(max_length=4000), AfterValidator(check_multiline)]

# RFC 5321 §4.5.3.1: 64 octets in the local part; 254 in all (a 256-octet path less <>).
EMAIL_LOCAL_MAX = 64
EMAIL_MAX = 254
EmailText = single_line(EMAIL_MAX, min_length=3)

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
    Email: EmailText
    Phone: PhoneText = ""
    Country: CountryText = ""
    Company: Medium = ""
    Title: Medium = ""

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive(cls, data: Any) -> Any:
        return canonical_keys(data, USER_DETAILS_KEYS)

    @field_validator("Email")
    @classmethod
    def _email(cls, value: str) -> str:
        local = value.rpartition("@")[0]
        if len(local) > EMAIL_LOCAL_MAX:
            raise PydanticCustomError(
                "email_local_too_long",
                "The part before @ may be at most {max} characters (RFC 5321).",
                {"max": EMAIL_LOCAL_MAX},
            )
        # Lowercasing (the consolidation key) can lengthen some letters, such as "İ".
        if max(len(value), len(value.lower())) > EMAIL_MAX:
            raise PydanticCustomError(
                "email_too_long",
                "An email address may be at most {max} characters (RFC 5321).",
                {"max": EMAIL_MAX},
            )
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
    ActionCode: Code = ""
    OfferTitle: Medium = ""
    Description: FreeText = ""
    LeadId: Medium | None = None
    OfferId: Medium | None = None
    CampaignCode: CampaignCodeText | None = None
    MarketingConsent: bool | None = None
    CreatedTime: datetime | None = Field(
        default=None,
        description="ISO 8601; UTC if no offset; the offset within ±15:59.",
    )

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

    @field_validator("CreatedTime", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        return None if value is None else datetime_text(value)

    @field_validator("CreatedTime")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_datetime(value)

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
