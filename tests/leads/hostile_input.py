"""Hostile-input helpers shared by the intake hostile-input test modules."""

import json

from leads.intake.schemas import LEAD_KEYS, USER_DETAILS_KEYS
from leads.models import Lead, LeadActivity
from tests.leads.conftest import lead_payload

# Every known field of a lead, as a path into its JSON, from the schema's own key lists.
KNOWN_FIELD_PATHS = [("UserDetails", key) for key in USER_DETAILS_KEYS] + [
    (key,) for key in LEAD_KEYS if key != "UserDetails"
]
NON_TEXT_FIELDS = {("MarketingConsent",), ("CreatedTime",)}


def assert_nothing_stored():
    assert not Lead.objects.exists()
    assert not LeadActivity.objects.exists()


def raw_body(extra: str) -> bytes:
    """A valid lead's JSON text with `extra` members spliced in (raw, so \\ud800 stays)."""
    text = json.dumps(lead_payload())
    return (text[:-1] + ", " + extra + "}").encode()
