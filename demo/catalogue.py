"""The demo's catalogue: its publishers, listings, campaigns (catalogue.json), CRM target
and logins.

`seed_demo` finds each of these rows by slug, offer id, code or username, so it is the
list of what a seeded portal holds, and a second run creates nothing new.
"""

import base64
import hashlib
import hmac
import json
from pathlib import Path

from django.conf import settings

# Publishers with their listings and campaigns. A campaign's `starts` and `ends` are days
# from the day of seeding; `share` is the part of the requested leads that the publisher gets.
_CATALOGUE = json.loads((Path(__file__).parent / "catalogue.json").read_text(encoding="utf-8"))

DEMO_PUBLISHERS: tuple[dict, ...] = tuple(
    {key: value for key, value in spec.items() if key not in {"listings", "campaigns"}}
    for spec in _CATALOGUE["publishers"]
)
DEMO_SLUGS = tuple(p["slug"] for p in DEMO_PUBLISHERS)
DEMO_PUBLISHER_SLUG = "contoso-software"  # owns the HTTPS target; the owner login's home

# (publisher slug, storefront, listing type, name, offer id)
DEMO_LISTINGS: tuple[tuple[str, str, str, str, str], ...] = tuple(
    (spec["slug"], row["storefront"], row["listing_type"], row["name"], row["offer_id"])
    for spec in _CATALOGUE["publishers"]
    for row in spec["listings"]
)
# Each campaign's row of catalogue.json, with its publisher's slug.
DEMO_CAMPAIGNS: tuple[dict, ...] = tuple(
    {"slug": spec["slug"], **row} for spec in _CATALOGUE["publishers"] for row in spec["campaigns"]
)

DEMO_TARGET_NAME = "Demo receiver (HTTPS)"
# The global Microsoft field-seller (Partner Center) target, staff's to set up: the demo's
# points at the same receiver, so admin's CRM-target pages have one and do not warn.
DEMO_FIELD_SELLER_TARGET_NAME = "Microsoft field seller (demo receiver)"
DEFAULT_PASSWORDS = {"staff": "demo-staff-2026", "owner": "demo-owner-2026"}


def demo_signing_secret(purpose: str = "signing-secret") -> str:
    """A whsec_ secret derived from SECRET_KEY, so every run computes the same one."""
    message = f"seed_demo.{purpose}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256)
    return "whsec_" + base64.b64encode(digest.digest()).decode()
