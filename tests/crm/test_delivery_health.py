"""The dashboard's delivery health comes from a cache that beat refreshes."""

from crm import health, tasks
from tests.factories import make_delivery, make_lead, make_target


def test_the_beat_task_counts_each_publishers_deliveries_into_the_cache(
    db, publisher, other_publisher
):
    lead = make_lead(publisher=publisher)
    target = make_target(publisher=publisher)
    make_delivery(lead=lead, target=target, status="delivered", delivered_at=lead.created_at)
    make_delivery(lead=lead, target=target, event="lead.updated")
    make_delivery(lead=make_lead(publisher=other_publisher))

    tasks.delivery_health_refresh.apply()

    assert health.delivery_health_for(publisher=publisher) == {
        (target.pk, "delivered"): 1,
        (target.pk, "pending"): 1,
    }


def test_the_cache_serves_until_the_next_refresh(db, publisher):
    target = make_target(publisher=publisher)
    make_delivery(lead=make_lead(publisher=publisher), target=target)
    first = health.delivery_health_for(publisher=publisher)  # a miss: counted and cached

    make_delivery(lead=make_lead(publisher=publisher), target=target)

    assert health.delivery_health_for(publisher=publisher) == first == {(target.pk, "pending"): 1}
    health.delivery_health_refresh(publisher_ids=[publisher.pk])
    assert health.delivery_health_for(publisher=publisher) == {(target.pk, "pending"): 2}
