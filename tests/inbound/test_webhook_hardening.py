"""The webhook under hostile input, outages and log scrutiny: it never answers 5xx for
what a client sends, loses nothing when the worker or broker is down, and never writes
its token to a log line or an error page."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Delivery
from inbound import receive, services
from inbound.models import InboundItem
from tests.brokers import broker_switched
from tests.factories import make_target
from tests.leads.conftest import HTTPS_DOC_SAMPLE
from tests.leads.hostile_input import raw_body

pytestmark = pytest.mark.django_db

HOSTILE_BODIES = {
    "nul-escape": raw_body('"Note": "a\\u0000b"'),
    "nul-in-field": json.dumps(dict(HTTPS_DOC_SAMPLE, OfferTitle="a\u0000b")).encode(),
    "raw-nul": b'{"UserDetails": {"Email": "a\x00b@contoso.example"}}',
    "lone-surrogate": raw_body('"Note": "\\ud800"'),
    "surrogate-in-email": b'{"UserDetails": {"Email": "\\udfff@contoso.example"}}',
    "huge-number": raw_body('"Big": 1e400'),
    "huge-int": raw_body('"Big": ' + "9" * 4000),
    "deep": b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "deep-broken": b"{" + b'"a": {' * 9000,
    "control-chars": json.dumps(dict(HTTPS_DOC_SAMPLE, Description="\x07\x1b[31m")).encode(),
    "not-utf8": b'{"UserDetails": {"Email": "\xff\xfe@contoso.example"}}',
    "bom": b"\xef\xbb\xbf" + json.dumps(HTTPS_DOC_SAMPLE).encode(),
    "wrong-types": b'{"UserDetails": [1, 2], "LeadSource": {"a": 1}, "ActionCode": null}',
    "key-with-control": b'{"User\\u0007Details": {}}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_bodies_are_stored_and_processed_without_a_5xx(hook, body):
    response = hook.post(body)

    assert response.status_code == 200, response.content
    hook.process_all()
    item = InboundItem.objects.get()
    assert item.status in {"processed", "rejected"}
    assert "\x00" not in item.body


def test_a_body_over_the_api_limit_is_413_and_not_stored(hook):
    body = json.dumps(dict(HTTPS_DOC_SAMPLE, Description="x" * 70_000))

    assert hook.post(body).status_code == 413
    assert not InboundItem.objects.exists()


def test_the_token_never_reaches_a_log_line_or_an_error_page(hook, caplog, capfd, settings):
    caplog.set_level("DEBUG")
    settings.DEBUG = False
    near_miss = hook.token[:-1] + ("A" if hook.token[-1] != "A" else "B")

    answers = [
        hook.post(HTTPS_DOC_SAMPLE).status_code,
        hook.post("not json").status_code,  # 400, logged by django.request
        hook.post(HTTPS_DOC_SAMPLE, token=near_miss).status_code,  # 404, logged
        hook.post("x" * 70_000).status_code,  # 413
    ]
    page = hook.client.post(hook.path() + "more/", data="{}", content_type="application/json")

    assert answers == [200, 400, 404, 413]
    assert page.status_code == 404
    assert hook.token not in page.content.decode()
    logged = caplog.text + capfd.readouterr().err
    assert "/inbound/partner-center/…/" in logged  # the lines are there, masked
    assert hook.token not in logged
    assert near_miss not in logged


def test_with_the_worker_stopped_the_lead_is_kept_and_the_sweep_processes_it(hook):
    # No worker takes the task: the item waits, pending.
    assert hook.post(HTTPS_DOC_SAMPLE).status_code == 200
    item = InboundItem.objects.get()
    assert item.status == "pending"
    InboundItem.objects.update(received_at=timezone.now() - timedelta(minutes=2))

    assert services.inbound_items_process_due() == 1

    item.refresh_from_db()
    assert item.status == "processed"


def test_with_the_broker_down_the_endpoint_still_answers_200(
    hook, django_capture_on_commit_callbacks, caplog
):
    with broker_switched(), django_capture_on_commit_callbacks(execute=True):
        response = hook.post(HTTPS_DOC_SAMPLE)

    assert response.status_code == 200
    assert "inbound.enqueue_failed" in caplog.text
    assert InboundItem.objects.get().status == "pending"


def test_a_webhook_lead_fans_out_to_the_publishers_targets_and_the_field_sellers(hook):
    hook.publisher.qualification_threshold = 0
    hook.publisher.save()
    first = make_target(publisher=hook.publisher, name="Dynamics")
    second = make_target(publisher=hook.publisher, name="Webhook")
    field_sellers = make_target(publisher=None, name="Microsoft field sellers")

    hook.post(HTTPS_DOC_SAMPLE)
    hook.process_all()

    assert set(Delivery.objects.values_list("target", "event")) == {
        (first.pk, "lead.qualified"),
        (second.pk, "lead.qualified"),
        (field_sellers.pk, "lead.qualified"),
    }


def test_a_published_listing_processes_what_waited_even_without_its_hook(hook):
    hook.listing.status = "draft"
    hook.listing.save()
    hook.post(HTTPS_DOC_SAMPLE)
    hook.process_all()
    assert InboundItem.objects.get().status == "waiting"
    # Published behind the service's back (a raw admin edit): the sweep catches it, once
    # the item has waited WAITING_RECHECK_SECONDS since it was last looked at.
    hook.listing.status = "published"
    hook.listing.save()
    services.inbound_items_process_due()
    assert InboundItem.objects.get().status == "waiting"
    InboundItem.objects.update(
        processed_at=timezone.now() - timedelta(seconds=services.WAITING_RECHECK_SECONDS)
    )

    services.inbound_items_process_due()

    assert InboundItem.objects.get().status == "processed"
    assert receive.inbound_listing_published(listing_id=hook.listing.pk) == 0
