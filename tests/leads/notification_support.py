"""A publisher whose leads arrive through the real intake, and the worker's run, for the
new-lead email tests."""

import email
import email.policy

from leads import tasks
from leads.models import Lead
from portal.tenancy.models import Membership
from tests.factories import make_membership, make_user
from tests.leads.conftest import Storefronts, lead_payload


class Newsroom(Storefronts):
    """The marketplace of tests.leads.conftest, with an owner and a plain member."""

    def __init__(self, *, publisher_name="Contoso"):
        super().__init__()
        self.publisher.name = publisher_name
        self.publisher.save(update_fields=["name"])
        self.owner = make_membership(
            user=make_user(email="owner@contoso.example"), publisher=self.publisher
        )
        self.member = make_membership(
            user=make_user(email="member@contoso.example"),
            publisher=self.publisher,
            role=Membership.Role.MEMBER,
        )

    def lead(self, n: int, *, offer_id="contoso.contoso-crm", **details):
        """Post lead number n through the intake API; returns the stored lead."""
        user = {
            "FirstName": details.pop("first", f"Person{n}"),
            "LastName": details.pop("last", "Example"),
            "Email": details.pop("email", f"person{n}@customer.example"),
            "Phone": "+44 20 7946 0000",
            "Country": "GB",
            "Company": details.pop("company", f"Customer {n} Ltd"),
            "Title": "Head of secrets",
        }
        payload = lead_payload(offer_id=offer_id, UserDetails=user, **details)
        response = self.post(payload)
        assert response.status_code == 201, response.content
        return Lead.objects.get(uuid=response.json()["id"])


def worker_run() -> None:
    """What beat makes a worker do every LEAD_NOTIFY_SWEEP_SECONDS."""
    tasks.notify_new_leads.apply()


def raw_text(received) -> str:
    """Every part of a received message, decoded, for searching."""
    message = email.message_from_bytes(received.raw, policy=email.policy.default)
    parts = [part.get_content() for part in message.walk() if not part.is_multipart()]
    return "\n".join(parts)
