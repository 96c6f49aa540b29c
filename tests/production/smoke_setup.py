"""The smoke test's own set-up, run inside the production deployment after `seed_demo`:

    python manage.py shell -c "from tests.production import smoke_setup; smoke_setup.main()"

It adds what the walk and the delivery need and prints them as JSON on its last line:
the HTTPS target of the loopback receiver (SMOKE_RECEIVER_URL, the one setting-up step
that runs with CRM_ALLOW_PRIVATE_TARGETS on), a nurture step, a publisher API token, and
one real id for every path parameter of the URL conf. The demo's own target points at the
DEBUG-only demo receiver, which production does not serve, so it is paused (and so is
the demo's field-seller target, on the same receiver).
"""

import json
import os

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import RequestFactory

from crm import targets as crm_targets
from crm.models import CrmTarget, Delivery
from demo import catalogue
from inbound import services as inbound_services
from inbound import sources as inbound_sources
from inbound.models import InboundSource
from leads.intake import api_keys
from leads.models import Campaign, Lead, Listing, SavedView
from leads.nurture import services as nurture
from leads.nurture.unsubscribe import token_make
from leads.referrals.models import Referral
from leads.work import services as work_services
from portal.models import Membership, Publisher

SMOKE_TARGET_NAME = "Smoke receiver (HTTPS)"


def _first_pk(model_admin, request) -> str | None:
    """The first row that the model's admin lists (a proxy admin filters its model)."""
    queryset = model_admin.get_queryset(request).order_by("pk")
    pk = queryset.values_list("pk", flat=True).first()
    return None if pk is None else str(pk)


def main() -> None:
    publisher = Publisher.objects.get(slug=catalogue.DEMO_PUBLISHER_SLUG)
    demo_targets = [catalogue.DEMO_TARGET_NAME, catalogue.DEMO_FIELD_SELLER_TARGET_NAME]
    crm_targets.targets_pause(targets=CrmTarget.objects.filter(name__in=demo_targets))
    target, secret = crm_targets.target_create(
        publisher=publisher,
        kind=CrmTarget.Kind.HTTPS,
        name=SMOKE_TARGET_NAME,
        config={"httpsEndpointUrl": os.environ["SMOKE_RECEIVER_URL"]},
    )
    listing = Listing.objects.filter(
        publisher=publisher, status="published", lead_management_enabled=True
    ).first()
    campaign = Campaign.objects.filter(publisher=publisher).order_by("pk").first()
    step = campaign.nurture_steps.order_by("pk").first() or nurture.step_save(
        campaign=campaign, step=None, delay_minutes=24 * 60, subject="Hello", body="Hello"
    )
    api_token, api_token_plaintext = api_keys.publisher_token_create(
        publisher=publisher, name="smoke"
    )
    lead = Lead.objects.filter(publisher=publisher, origin="marketplace").order_by("pk").first()
    delivery = Delivery.objects.filter(lead__publisher=publisher).order_by("pk").first()
    membership = Membership.objects.filter(publisher=publisher).order_by("pk").first()
    # The listing's Partner Center inbound URL, and an item it received (the Inbound panel).
    inbound, _token = inbound_sources.inbound_url_create(listing=listing)
    inbound_item, _new = inbound_services.inbound_item_store(
        source=inbound, body="[1]", dedupe_key="smoke"
    )
    # A Co-Sell referral (its page) and an Azure Table source (its pages; never read here).
    referral = Referral.objects.create(
        publisher=publisher, lead=None, partner_center_id="smoke-referral", name="Smoke"
    )
    table = InboundSource.objects.create(
        publisher=publisher, kind=InboundSource.Kind.AZURE_TABLE, paused=True
    )
    # A note on the lead, and a merge of two leads, undone at once (its undo URL then refuses).
    note = work_services.note_add(lead=lead, author=membership.user, body="Smoke note")
    other = Lead.objects.filter(publisher=publisher, origin="marketplace").exclude(pk=lead.pk)
    merge = work_services.lead_merge(
        publisher=publisher, survivor_id=lead.pk, merged_id=other.order_by("pk")[0].pk, by=None
    )
    work_services.lead_merge_undo(merge=merge, by=None)
    # A saved view of the lead list, the first member's own (the walk signs in as them).
    saved_view = SavedView.objects.create(
        publisher=publisher, user=membership.user, name="smoke", search="smoke"
    )
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    world = {
        "publisher_id": publisher.pk,
        "target_id": target.pk,
        "signing_secret": secret,
        "offer_id": listing.offer_id,
        "storefront": listing.storefront,
        "api_token": api_token_plaintext,
        "params": {
            "publisher_id": publisher.pk,
            "listing_id": listing.pk,
            "campaign_id": campaign.pk,
            "step_id": step.pk,
            "target_id": target.pk,
            "delivery_id": delivery.pk,
            "token_id": api_token.pk,
            "membership_id": membership.pk,
            "item_id": inbound_item.pk,
            "referral_id": referral.pk,
            "signed": "not-a-signed-link",  # a tracked link's redirect: refused, never a 5xx
            "source_id": table.pk,
            "view_id": saved_view.pk,
            "lead_id": str(lead.uuid),
            "token": token_make(publisher_id=publisher.pk, email=lead.email),
            "content_type_id": ContentType.objects.get_for_model(Lead).pk,
            "object_id": lead.pk,
            "note_id": note.pk,
            "merge_id": merge.pk,
        },
        # admin/<app_label>/<model_name>/<object_id>/…: the first row of every admin model.
        "admin_objects": {
            f"{model._meta.app_label}/{model._meta.model_name}": _first_pk(model_admin, request)
            for model, model_admin in admin.site._registry.items()
        },
        "app_labels": sorted({model._meta.app_label for model in admin.site._registry}),
    }
    print(json.dumps(world))
