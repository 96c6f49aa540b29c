"""Hostile-input helpers shared by the intake hostile-input test modules."""

import json

from leads.models import Lead, LeadActivity
from tests.leads.conftest import lead_payload


def assert_nothing_stored():
    assert not Lead.objects.exists()
    assert not LeadActivity.objects.exists()


def raw_body(extra: str) -> bytes:
    """A valid lead's JSON text with `extra` members spliced in (raw, so \\ud800 stays)."""
    text = json.dumps(lead_payload())
    return (text[:-1] + ", " + extra + "}").encode()
