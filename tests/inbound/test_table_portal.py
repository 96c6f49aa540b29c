"""The portal's Azure Table pages: set-up, reading state, rejects and retry, and roles."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbound.models import InboundItem, InboundSource
from portal.models import Membership
from tests.brokers import broker_switched
from tests.factories import make_membership, make_publisher
from tests.inbound.table_support import published_offer, table_source

pytestmark = pytest.mark.django_db

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONNECTION = (
    f"DefaultEndpointsProtocol=https;AccountName=contosoleads;AccountKey={KEY};"
    "EndpointSuffix=core.windows.net"
)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def member_client(client, publisher):
    client.force_login(make_membership(publisher=publisher, role=Membership.Role.MEMBER).user)
    return client


@pytest.fixture
def source(publisher):
    return table_source(publisher, CONNECTION, "MarketplaceLeads")


def reject(source, n: int = 1, **fields) -> InboundItem:
    defaults = {
        "source": source,
        "publisher": source.publisher,
        "received_at": timezone.now() - timedelta(minutes=n),
        "body": "{}",
        "dedupe_key": f"p|{n}",
        "status": InboundItem.Status.REJECTED,
        "reason_code": "unknown_offer",
        "reason": "None of your listings has the offer id 'contoso.later' (ProductId).",
    }
    return InboundItem.objects.create(**(defaults | fields))


def detail_url(source) -> str:
    return reverse("inbound-table-detail", args=[source.pk])


# --- Set-up ------------------------------------------------------------------------------


def test_an_owner_adds_a_table_and_its_first_read_is_queued(
    owner_client, publisher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = owner_client.post(
            reverse("inbound-table-create"),
            {
                "connection_string": CONNECTION,
                "table_name": "MarketplaceLeads",
                "import_from": "2026-11-01",
            },
        )

    source = InboundSource.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(source)
    assert (source.publisher, source.kind, source.table_name) == (
        publisher,
        InboundSource.Kind.AZURE_TABLE,
        "MarketplaceLeads",
    )
    assert source.config == {"storageAccountConnectionString": CONNECTION}
    assert source.read_from == datetime(2026, 11, 1, tzinfo=UTC)
    assert len(queued) == 1  # the read task, once the source is committed


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"connection_string": ""}, "connection_string", "This field is required."),
        (
            {"connection_string": "AccountName=x;Nonsense"},
            "connection_string",
            "This is not a storage account connection string.",
        ),
        (
            {
                "connection_string": (
                    f"DefaultEndpointsProtocol=https;AccountName=x;AccountKey={KEY};"
                    "TableEndpoint=https://127.0.0.7/x"
                )
            },
            "connection_string",
            "This address cannot receive leads: 127.0.0.7 is a loopback address: refused.",
        ),
        ({"table_name": "Marketplace-Leads"}, "table_name", "A table name is 3 to 63 letters"),
        ({"import_from": "yesterday"}, "import_from", "Enter a valid date."),
    ],
)
def test_a_bad_value_is_a_form_error_next_to_its_field(owner_client, settings, data, field, error):
    settings.CRM_ALLOW_PRIVATE_TARGETS = False  # the production policy
    form = {"connection_string": CONNECTION, "table_name": "MarketplaceLeads"} | data

    response = owner_client.post(reverse("inbound-table-create"), form)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert errors[field][0].startswith(error)
    assert not InboundSource.objects.exists()
    assert KEY not in response.text


def test_the_connection_string_is_never_shown_and_blank_keeps_it(owner_client, source):
    # When the owner opens the page, then saves a new table name with the string left blank
    page = owner_client.get(detail_url(source))
    response = owner_client.post(
        detail_url(source), {"connection_string": "", "table_name": "OtherLeads"}
    )

    # Then the key was never on the page, and the stored string is kept
    assert page.status_code == 200
    assert KEY not in page.text
    assert "contosoleads" not in page.text
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.table_name, source.config["storageAccountConnectionString"]) == (
        "OtherLeads",
        CONNECTION,
    )


def test_a_new_import_date_starts_the_reading_again(owner_client, source):
    InboundSource.objects.filter(pk=source.pk).update(
        watermark=timezone.now(), read_cursor={"token": {"PartitionKey": "p", "RowKey": "r"}}
    )

    owner_client.post(
        detail_url(source),
        {"connection_string": "", "table_name": "MarketplaceLeads", "import_from": "2026-01-01"},
    )

    source.refresh_from_db()
    assert source.read_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert (source.watermark, source.read_cursor) == (None, {})


def test_saving_unchanged_settings_keeps_the_watermark(owner_client, source):
    read_from = datetime(2026, 11, 1, 14, 30, tzinfo=UTC)  # a first read "from now"
    watermark = timezone.now()
    InboundSource.objects.filter(pk=source.pk).update(read_from=read_from, watermark=watermark)

    owner_client.post(
        detail_url(source),
        {"connection_string": "", "table_name": "MarketplaceLeads", "import_from": "2026-11-01"},
    )

    source.refresh_from_db()
    assert (source.read_from, source.watermark) == (read_from, watermark)


# --- Reading state, rejects and retry -----------------------------------------------------


def test_the_page_shows_the_last_read_the_lag_and_a_current_error(member_client, source):
    read_at = timezone.now() - timedelta(minutes=20)
    InboundSource.objects.filter(pk=source.pk).update(
        last_read_at=read_at,
        watermark=read_at - timedelta(hours=2),
        last_error="The table MarketplaceLeads does not exist in this storage account.",
        last_error_at=timezone.now(),
    )
    reject(source)

    response = member_client.get(detail_url(source))

    health = response.context["health"]
    assert 1200 <= health.lag_seconds < 1260
    assert health.counts["rejected"] == 1
    assert "The table MarketplaceLeads does not exist" in response.text
    assert "No read has finished for more than ten minutes" in response.text
    assert "None of your listings has the offer id" in response.text


def test_an_error_that_a_later_read_outlived_is_not_shown(member_client, source):
    InboundSource.objects.filter(pk=source.pk).update(
        last_error="The storage account could not be reached.",
        last_error_at=timezone.now() - timedelta(minutes=5),
        last_read_at=timezone.now(),
    )

    response = member_client.get(detail_url(source))

    assert response.context["health"].error == ""
    assert "could not be reached" not in response.text


def test_items_filter_by_status_sort_and_paginate_in_few_queries(
    member_client, source, django_assert_max_num_queries
):
    for n in range(30):
        reject(source, n)
    InboundItem.objects.filter(dedupe_key="p|0").update(status=InboundItem.Status.WAITING)

    with django_assert_max_num_queries(16):
        first = member_client.get(detail_url(source), {"status": "rejected", "order": "oldest"})
    second = member_client.get(
        detail_url(source), {"status": "rejected", "order": "oldest", "page": 2}
    )

    rows = list(first.context["page"].object_list)
    assert len(rows) == 25
    assert [row.dedupe_key for row in rows[:2]] == ["p|29", "p|28"]
    assert {row.status for row in rows} == {"rejected"}
    assert [row.dedupe_key for row in second.context["page"].object_list] == [
        "p|4",
        "p|3",
        "p|2",
        "p|1",
    ]
    assert "status=rejected&amp;order=oldest&amp;page=2" in first.text


def test_retry_processes_a_reject_once_its_listing_exists(
    owner_client, source, django_capture_on_commit_callbacks
):
    item = reject(source)
    other = reject(source, 2)
    published_offer(source.publisher, offer_id="contoso.later")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = owner_client.post(reverse("inbound-table-item-retry", args=[source.pk, item.pk]))

    assert response.status_code == 302
    item.refresh_from_db()
    other.refresh_from_db()
    assert (item.status, item.reason) == (InboundItem.Status.PENDING, "")
    assert other.status == InboundItem.Status.REJECTED
    assert len(queued) == 1

    owner_client.post(reverse("inbound-table-retry", args=[source.pk]))
    other.refresh_from_db()
    assert other.status == InboundItem.Status.PENDING


def test_an_owner_pauses_resumes_and_reads_now(
    owner_client, source, django_capture_on_commit_callbacks
):
    owner_client.post(reverse("inbound-table-pause", args=[source.pk]))
    source.refresh_from_db()
    assert source.paused
    with django_capture_on_commit_callbacks(execute=False) as paused_read:
        owner_client.post(reverse("inbound-table-read", args=[source.pk]))

    owner_client.post(reverse("inbound-table-resume", args=[source.pk]))
    with django_capture_on_commit_callbacks(execute=False) as read:
        owner_client.post(reverse("inbound-table-read", args=[source.pk]))

    source.refresh_from_db()
    assert not source.paused
    assert (len(paused_read), len(read)) == (0, 1)


# --- Roles and tenancy -------------------------------------------------------------------


def test_a_member_reads_but_cannot_change_anything(member_client, source):
    item = reject(source)

    page = member_client.get(detail_url(source))
    answers = [
        member_client.post(url).status_code
        for url in (
            detail_url(source),
            reverse("inbound-table-pause", args=[source.pk]),
            reverse("inbound-table-read", args=[source.pk]),
            reverse("inbound-table-retry", args=[source.pk]),
            reverse("inbound-table-item-retry", args=[source.pk, item.pk]),
        )
    ]

    assert page.status_code == 200
    assert page.context["form"] is None
    assert "Read now" not in page.text
    assert answers == [403] * 5
    assert member_client.get(reverse("inbound-table-create")).status_code == 403
    source.refresh_from_db()
    item.refresh_from_db()
    assert (source.paused, item.status) == (False, InboundItem.Status.REJECTED)


def test_another_publishers_source_and_item_answer_404(client, source):
    item = reject(source)
    client.force_login(make_membership(publisher=make_publisher()).user)

    answers = [
        client.get(detail_url(source)).status_code,
        client.post(reverse("inbound-table-pause", args=[source.pk])).status_code,
        client.post(reverse("inbound-table-item-retry", args=[source.pk, item.pk])).status_code,
    ]
    listed = client.get(reverse("inbound-tables"))

    assert answers == [404, 404, 404]
    assert list(listed.context["sources"]) == []
    source.refresh_from_db()
    assert not source.paused


def test_an_item_of_another_source_answers_404(owner_client, source, publisher):
    other_source = table_source(make_publisher(), CONNECTION, "MarketplaceLeads")
    foreign_item = reject(other_source)

    response = owner_client.post(
        reverse("inbound-table-item-retry", args=[source.pk, foreign_item.pk])
    )

    assert response.status_code == 404
    foreign_item.refresh_from_db()
    assert foreign_item.status == InboundItem.Status.REJECTED


def test_the_list_shows_each_table_its_state_and_its_rejects(member_client, source, publisher):
    reject(source)
    reject(source, 2)
    InboundSource.objects.filter(pk=source.pk).update(
        last_error="The storage account could not be reached.", last_error_at=timezone.now()
    )
    healthy = table_source(publisher, CONNECTION, "OtherLeads")
    InboundSource.objects.filter(pk=healthy.pk).update(
        last_read_at=timezone.now(), connected_at=timezone.now()
    )

    response = member_client.get(reverse("inbound-tables"))

    sources = {s.table_name: s for s in response.context["sources"]}
    assert {name: s.rejects for name, s in sources.items()} == {
        "MarketplaceLeads": 2,
        "OtherLeads": 0,
    }
    assert response.text.count('class="badge badge-failed"') == 1
    assert response.text.count('class="badge badge-verified"') == 1
    assert "Add a table" not in response.text  # members do not add tables


def test_a_shared_access_signature_connection_string_is_accepted(owner_client):
    sas = "sv=2019-02-02&ss=t&srt=sco&sp=rl&se=2027-12-31T00:00:00Z&sig=c2lnbmF0dXJl"
    connection = (
        f"TableEndpoint=https://contosoleads.table.core.windows.net;SharedAccessSignature={sas}"
    )

    response = owner_client.post(
        reverse("inbound-table-create"),
        {"connection_string": connection, "table_name": "MarketplaceLeads"},
    )

    assert response.status_code == 302
    assert InboundSource.objects.get().config["storageAccountConnectionString"] == connection


def test_with_the_broker_down_a_table_is_still_added(
    owner_client, django_capture_on_commit_callbacks, caplog
):
    # Given a broker that nobody answers at
    with broker_switched(), django_capture_on_commit_callbacks(execute=True):
        # When an owner adds a table (its first read is queued after the commit)
        response = owner_client.post(
            reverse("inbound-table-create"),
            {"connection_string": CONNECTION, "table_name": "MarketplaceLeads"},
        )

    # Then the table is added all the same; beat reads it once the broker is back
    assert response.status_code == 302
    assert InboundSource.objects.count() == 1
    assert "inbound.table.read_enqueue_failed" in caplog.text
