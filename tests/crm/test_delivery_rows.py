"""The deliveries table's rows, written in Python (crm.delivery_rows): the same HTML as
the template loop they replaced, byte for byte, in both languages, for an owner and a
member, on the list (with the target column) and on a target's page."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.template import engines
from django.test import RequestFactory
from django.utils import timezone, translation

from crm.delivery_rows import delivery_rows_html
from crm.models import Delivery
from tests.factories import make_delivery, make_lead, make_target

pytestmark = pytest.mark.django_db

# The template loop of templates/crm/_delivery_table.html before the rows were written in
# Python: what they must still render.
TEMPLATE_LOOP = (Path(__file__).parent / "delivery_rows_loop.html").read_text()
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _varied(publisher) -> list[Delivery]:
    """Deliveries in every shape a row has: a test lead, retries, errors, erasures."""
    target = make_target(publisher=publisher, name='Sales <"CRM"> & co')
    lead = make_lead(publisher=publisher, first_name="Zoë", last_name="O'Brien <b>")
    now = timezone.now()
    made = [
        make_delivery(
            lead=lead,
            target=target,
            status="delivered",
            delivered_at=now,
            attempts=1,
            last_status_code=200,
            response_excerpt="ok " * 80,
        ),
        make_delivery(
            lead=lead,
            target=target,
            status="pending",
            event="lead.updated",
            attempts=3,
            next_attempt_at=now + timedelta(minutes=5),
            last_status_code=503,
            last_error='Service <unavailable> & "busy" ' * 20,
        ),
        make_delivery(
            lead=lead,
            target=target,
            status="failed",
            event="lead.updated",
            attempts=10,
            last_error="x" * 250,
        ),
        make_delivery(lead=lead, target=target, status="sending", event="lead.updated"),
        make_delivery(
            lead=lead,
            target=target,
            status="delivered",
            delivered_at=now,
            event="lead.erased",
            erasure_mode="delete",
            outcome="deleted",
        ),
        make_delivery(
            lead=make_lead(publisher=publisher),
            target=target,
            status="pending",
            event="lead.erased",
            erasure_mode="notify",
            next_attempt_at=None,
        ),
        Delivery.objects.create(
            lead=None, target=target, event="test", status="failed", last_status_code=404
        ),
    ]
    return list(
        Delivery.objects.filter(pk__in=[d.pk for d in made])
        .select_related("lead", "target")
        .order_by("-created_at", "-id")
    )


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("is_owner", [True, False])
@pytest.mark.parametrize("show_target", [True, False])
def test_the_rows_are_the_template_loop_byte_for_byte(publisher, language, is_owner, show_target):
    # Given deliveries of every shape and a request for a filtered list
    deliveries = _varied(publisher)
    request = RequestFactory().get("/crm/deliveries/", {"status": "failed", "q": '<"x">'})

    # When the rows are written in Python and by the template loop
    with translation.override(language):
        rows = delivery_rows_html(
            request=request, deliveries=deliveries, show_target=show_target, is_owner=is_owner
        )
        loop = (
            engines["django"]
            .from_string(TEMPLATE_LOOP)
            .render(
                {
                    "page": {"rows": deliveries},
                    "show_target": show_target,
                    "current_membership": {"is_owner": is_owner},
                    "csrf_token": "token",
                },
                request,
            )
        )

    # Then they are the same HTML (the CSRF token is a fresh mask of the same secret)
    assert CSRF.sub("csrf", str(rows)) == CSRF.sub("csrf", loop)
    assert ('name="csrfmiddlewaretoken"' in rows) is is_owner
