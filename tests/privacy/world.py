"""A person with marker values in every store the registry names, and a scan of every
table of the database for those markers."""

import json
from dataclasses import dataclass

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from crm.models import Delivery
from inbound.models import InboundItem, InboundSource
from leads.models import EmailSend, Enrollment, Lead, LeadTransition, Referral, Suppression
from leads.nurture.address_hash import address_hash
from tests.factories import make_activity, make_delivery, make_lead, make_target
from tests.leads.nurture_support import Sequence


@dataclass
class Person:
    mark: str
    email: str
    lead: Lead
    sequence: Sequence
    target: object

    @property
    def markers(self) -> list[str]:
        return [self.mark, self.email]


def make_person(*, mark: str = "zqxmark", sequence: Sequence | None = None) -> Person:
    """A lead whose every personal field, payload and copy carries `mark`."""
    sequence = sequence or Sequence()
    publisher, listing = sequence.publisher, sequence.listing
    email = f"{mark}.person@{mark}.example"
    lead = make_lead(
        publisher=publisher,
        email=email,
        first_name=f"{mark}First",
        last_name=f"{mark}Last",
        phone=f"+1 555 {mark}",
        company=f"{mark} Corp",
        title=f"{mark} Chief",
        country="FR",
        status_reason=f"{mark} reason",
    )
    payload = {"UserDetails": {"Email": email, "FirstName": f"{mark}First"}}
    activity = make_activity(
        lead=lead,
        listing=listing,
        description=f"{mark} wants a demo",
        raw_payload=payload,
        intake_response={"leadId": str(lead.uuid), "echo": mark},
        lead_source=f"AppSource-INS|{mark}",
    )
    LeadTransition.objects.create(lead=lead, from_status="new", to_status="qualified", reason=mark)
    enrollment = Enrollment.objects.create(
        lead=lead, campaign=sequence.campaign, enrolled_at=timezone.now(), last_position=1
    )
    send = EmailSend.objects.create(
        enrollment=enrollment, step=sequence.steps[0], status="bounced", error=f"550 {email}"
    )
    Suppression.objects.create(
        publisher=publisher,
        email_hash=address_hash(email),
        reason="bounced",
        send=send,
        detail=f"550 no such user {email}",
    )
    target = make_target(publisher=publisher, name="Contoso CRM")
    make_delivery(
        lead=lead,
        target=target,
        status=Delivery.Status.DELIVERED,
        delivered_at=timezone.now(),
        response_excerpt=f"created {mark}",
        last_error=f"earlier: {email}",
    )
    Referral.objects.create(
        publisher=publisher,
        lead=lead,
        partner_center_id=f"ref-{lead.pk}",
        name=f"{mark} deal",
        customer_name=f"{mark} Corp",
        customer_need=f"{mark} needs",
        raw={"customerProfile": {"team": [{"email": email}]}},
    )
    source = InboundSource.objects.create(
        publisher=publisher, kind=InboundSource.Kind.WEBHOOK, listing=listing
    )
    common = {"source": source, "publisher": publisher, "received_at": timezone.now()}
    InboundItem.objects.create(
        **common,
        body=json.dumps(payload),
        dedupe_key=f"k-{mark}-1",
        activity=activity,
        status=InboundItem.Status.PROCESSED,
    )
    InboundItem.objects.create(
        **common,
        body=json.dumps(payload),
        dedupe_key=f"k-{mark}-2",
        status=InboundItem.Status.REJECTED,
        reason=f"{mark} rejected",
    )
    LogEntry.objects.log_actions(
        user_id=_staff_id(),
        queryset=[lead],
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": [f"{mark} name"]}}]),
        single_object=True,
    )
    return Person(mark=mark, email=email, lead=lead, sequence=sequence, target=target)


def _staff_id() -> int:
    from tests.factories import make_user

    return make_user(is_staff=True).pk


def tables_holding(marker: str) -> list[str]:
    """Every table of the database with a row whose text holds the marker."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT 1 FROM {quoted} t WHERE lower(t::text) LIKE %s LIMIT 1",
                [f"%{marker.lower()}%"],
            )
            if cursor.fetchone():
                found.append(table)
    return found


def content_type_of(model):
    return ContentType.objects.get_for_model(model)
