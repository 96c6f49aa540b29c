"""POST /api/v1/inbound/partner-center/<token>/ through the real HTTP stack, with the bodies
Partner Center documents and no Authorization header."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from inbound import sources
from inbound.models import InboundItem, InboundSource
from leads.models import Lead, LeadActivity
from tests.factories import make_campaign, make_membership
from tests.inbound.conftest import FAQ_TEST_LEAD_TEXT, FLOW_ERA_SAMPLE
from tests.leads.conftest import HTTPS_DOC_SAMPLE

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def test_the_documented_sample_is_stored_answered_200_and_becomes_a_lead(hook):
    response = hook.post(HTTPS_DOC_SAMPLE)

    assert response.status_code == 200
    assert response.json() == {"status": "received"}
    item = InboundItem.objects.get()
    assert json.loads(item.body) == HTTPS_DOC_SAMPLE
    assert (item.status, item.is_test, item.source_id) == ("pending", False, hook.source.pk)
    assert not Lead.objects.exists()  # processing is the worker's

    hook.process_all()

    item.refresh_from_db()
    activity = LeadActivity.objects.get()
    assert (item.status, item.activity) == ("processed", activity)
    assert (activity.listing, activity.action_code) == (hook.listing, "INS")
    assert activity.lead.email == "someone@contoso.com"
    hook.source.refresh_from_db()
    assert hook.source.last_received_at == item.received_at
    assert hook.source.connected_at is None


def test_the_faq_test_lead_with_its_missing_comma_connects_the_url_and_is_a_test_lead(hook):
    response = hook.post(FAQ_TEST_LEAD_TEXT)

    assert response.status_code == 200
    item = InboundItem.objects.get()
    assert item.body == FAQ_TEST_LEAD_TEXT
    assert item.is_test
    hook.source.refresh_from_db()
    assert hook.source.connected_at == item.received_at

    hook.process_all()

    item.refresh_from_db()
    assert item.status == "processed", item.reason
    activity = LeadActivity.objects.get()
    assert activity.is_test
    assert activity.lead.email == "MSFT_TEST_636573304831318844@test.com"


def test_the_flow_era_sample_without_action_code_is_a_lead_of_the_listing(hook):
    assert hook.post(FLOW_ERA_SAMPLE).status_code == 200

    hook.process_all()

    assert InboundItem.objects.get().status == "processed"
    activity = LeadActivity.objects.get()
    # "Test run through MS Flow" names no storefront: the listing's own.
    assert (activity.listing, activity.storefront) == (hook.listing, "azure-marketplace")


def test_a_replay_stores_nothing_new_and_makes_no_second_activity(hook):
    assert hook.post(HTTPS_DOC_SAMPLE).json() == {"status": "received"}
    hook.process_all()
    # The same lead again, its keys in another order and spaced differently.
    replay = json.dumps(dict(reversed(HTTPS_DOC_SAMPLE.items())), indent=4)

    response = hook.post(replay)

    assert response.status_code == 200
    assert response.json() == {"status": "replayed"}
    assert InboundItem.objects.count() == 1
    hook.process_all()
    assert LeadActivity.objects.count() == 1


def test_a_replay_across_a_bucket_boundary_is_still_a_replay(hook, settings):
    hook.post(HTTPS_DOC_SAMPLE)
    item = InboundItem.objects.get()
    # As if stored in the previous bucket of the window.
    digest, bucket = item.dedupe_key.split(":")[1:]
    item.dedupe_key = f"body:{digest}:{int(bucket) - 1}"
    item.save()

    assert hook.post(HTTPS_DOC_SAMPLE).json() == {"status": "replayed"}
    assert InboundItem.objects.count() == 1


def test_the_same_body_after_the_window_is_a_new_item(hook):
    hook.post(HTTPS_DOC_SAMPLE)
    InboundItem.objects.update(dedupe_key="body:old:1")

    assert hook.post(HTTPS_DOC_SAMPLE).json() == {"status": "received"}
    assert InboundItem.objects.count() == 2


@pytest.mark.parametrize(
    "token",
    ["x" * 43, "short", "y" * 200],
    ids=["well-formed-unknown", "short", "long"],
)
def test_a_wrong_token_is_404_and_stores_nothing(hook, token):
    response = hook.post(HTTPS_DOC_SAMPLE, token=token)

    assert response.status_code == 404
    assert response.json() == {"detail": "No such inbound URL."}
    assert not InboundItem.objects.exists()


def test_a_revoked_token_is_404(hook):
    sources.inbound_url_revoke(source=hook.source)

    assert hook.post(HTTPS_DOC_SAMPLE).status_code == 404
    assert not InboundItem.objects.exists()


def test_a_rotated_token_works_in_its_grace_period_and_not_after(hook, settings):
    old = hook.token
    _source, new = sources.inbound_url_rotate(source=hook.source)

    assert hook.post(HTTPS_DOC_SAMPLE, token=old).status_code == 200
    assert hook.post(FLOW_ERA_SAMPLE, token=new).status_code == 200
    # A test lead through the old URL does not connect the new one.
    assert hook.post(FAQ_TEST_LEAD_TEXT, token=old).status_code == 200
    hook.source.refresh_from_db()
    assert hook.source.connected_at is None
    assert InboundItem.objects.count() == 3

    InboundSource.objects.update(previous_valid_until=timezone.now() - timedelta(seconds=1))

    assert hook.post({"other": 1}, token=old).status_code == 404
    assert hook.post({"other": 2}, token=new).status_code == 200


def test_a_url_without_its_last_slash_reaches_the_same_endpoint(hook):
    response = hook.client.post(
        hook.path().rstrip("/"), data=json.dumps(HTTPS_DOC_SAMPLE), content_type="text/plain"
    )
    assert response.status_code == 200
    assert InboundItem.objects.count() == 1


@pytest.mark.parametrize("body", ["   ", "hello", "a=b&c=d", "<lead/>", b"\xff\xfe"])
def test_a_body_that_is_not_json_at_all_is_400_and_not_stored(hook, body):
    response = hook.post(body)

    assert response.status_code == 400
    assert response.json() == {"detail": "The body is not JSON."}
    assert not InboundItem.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [("[1, 2]", "not_an_object"), ('{"UserDetails": {', "not_json"), ('"text"', "not_an_object")],
)
def test_json_that_is_no_lead_is_stored_and_becomes_a_reject(hook, body, code):
    assert hook.post(body).status_code == 200

    hook.process_all()

    item = InboundItem.objects.get()
    assert (item.status, item.reason_code, item.body) == ("rejected", code, body)


def test_repeated_unknown_tokens_from_one_address_are_throttled(hook, settings):
    settings.API_AUTH_FAILURE_LIMIT = 3
    for _ in range(3):
        assert hook.post({}, token="z" * 43).status_code == 404

    refused = hook.post({}, token="z" * 43)

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= settings.API_AUTH_WINDOW_MINUTES * 60
    # A live URL is still taken from that address: a lead is never refused for guesses.
    assert hook.post(HTTPS_DOC_SAMPLE).status_code == 200


def test_a_revoked_token_posted_again_and_again_throttles_nobody(hook, settings):
    settings.API_AUTH_FAILURE_LIMIT = 2
    revoked = hook.token
    sources.inbound_url_revoke(source=hook.source)
    for _ in range(5):
        assert hook.post(HTTPS_DOC_SAMPLE, token=revoked).status_code == 404
    assert hook.post({}, token="q" * 43).status_code == 404


def test_a_draft_listing_keeps_the_lead_until_it_is_published(
    client, django_capture_on_commit_callbacks
):
    from leads.catalog import services as catalog_services
    from tests.factories import make_target
    from tests.inbound.conftest import Hook

    draft = Hook(client, status="draft", published_at=None)
    assert draft.post(HTTPS_DOC_SAMPLE).status_code == 200
    draft.process_all()
    item = InboundItem.objects.get()
    assert (item.status, item.reason_code) == ("waiting", "listing_not_published")
    assert not Lead.objects.exists()

    # Publishing (its gate wants a verified CRM target) reopens the item.
    make_target(publisher=draft.publisher, verified_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False):
        catalog_services.listing_publish(listing=draft.listing)
    item.refresh_from_db()
    assert item.status == "pending"
    draft.process_all()

    assert InboundItem.objects.get().status == "processed"
    assert Lead.objects.count() == 1


def test_marketing_parameters_in_the_description_attribute_the_campaign(hook):
    campaign = make_campaign(
        publisher=hook.publisher,
        storefront="azure-marketplace",
        listings=[hook.listing],
        code="spring-launch",
    )
    body = dict(HTTPS_DOC_SAMPLE, Description='{"mktcmpid": "spring-launch", "partnerid": "98"}')

    hook.post(body)
    hook.process_all()

    activity = LeadActivity.objects.get()
    assert activity.campaign == campaign
    assert activity.lead.first_campaign == campaign


def test_beyond_the_hourly_limit_items_are_held_and_the_owners_alerted_once(
    hook, django_capture_on_commit_callbacks
):
    owner = make_membership(publisher=hook.publisher).user
    InboundSource.objects.filter(pk=hook.source.pk).update(hourly_limit=2)

    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            body = dict(HTTPS_DOC_SAMPLE, Description=f"lead {n}")
            assert hook.post(body).status_code == 200

    items = list(InboundItem.objects.order_by("id"))
    assert [i.status for i in items] == ["pending"] * 2 + ["rejected"] * 3
    assert {i.reason_code for i in items[2:]} == {"rate_limited"}
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner.email, hook.publisher.lead_contact_email]
    assert "Contoso CRM" in mail.outbox[0].subject
    assert f"/listings/{hook.listing.pk}/#inbound" in mail.outbox[0].body
    assert "someone@contoso.com" not in mail.outbox[0].body
    # A held item is a reject that can be retried.
    with django_capture_on_commit_callbacks(execute=False):
        from inbound import receive

        assert receive.inbound_items_retry(items=InboundItem.objects.filter(pk=items[2].pk)) == 1
    hook.process_all()
    assert InboundItem.objects.get(pk=items[2].pk).status == "processed"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
def test_any_content_type_is_read_as_the_raw_body(hook, content_type):
    response = hook.client.post(
        hook.path(), data=json.dumps(HTTPS_DOC_SAMPLE), content_type=content_type
    )

    assert response.status_code == 200
    assert json.loads(InboundItem.objects.get().body) == HTTPS_DOC_SAMPLE
