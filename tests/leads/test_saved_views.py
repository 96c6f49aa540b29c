"""Saved views of the lead list: save, apply, rename, delete; each user's own."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from leads.models import SavedView
from portal.models import Membership
from privacy import services as privacy_services
from tests.factories import make_lead, make_listing, make_membership
from tests.leads.portal_leads_support import LEADS

VIEWS = reverse("lead-views")


def _save(client, name: str, query: str):
    return client.post(VIEWS, {"name": name, "query": query})


def test_saving_keeps_filters_search_sort_and_columns_and_applies_them(
    publisher, owner, owner_client
):
    # Given a listing, and the list filtered, searched, sorted, with chosen columns
    listing = make_listing(publisher=publisher)
    query = (
        f"status=qualified&listing={listing.pk}&q=L%C3%B3pez&sort=-score&size=100"
        "&col=name&col=company&col=score&after=abc&start=51"
    )

    # When the owner saves it
    response = _save(owner_client, "  Hot   leads ", query)

    # Then the view keeps what the list showed (not the page it was on), and the list opens
    view = SavedView.objects.get()
    assert (view.publisher, view.user, view.name) == (publisher, owner, "Hot leads")
    assert view.filters == {"status": "qualified", "listing": str(listing.pk), "size": "100"}
    assert (view.search, view.sort, view.columns) == ("López", "-score", ["company", "score"])
    assert response.status_code == 302
    applied = owner_client.get(reverse("lead-view-apply", args=[view.pk]))
    assert applied.status_code == 302
    params = parse_qs(urlsplit(applied["Location"]).query)
    assert params == {
        "status": ["qualified"],
        "listing": [str(listing.pk)],
        "size": ["100"],
        "q": ["López"],
        "sort": ["-score"],
        "col": ["name", "company", "score"],
    }
    page = owner_client.get(applied["Location"])
    assert [column.key for column in page.context["columns"]] == ["company", "score"]
    assert page.context["page_size"] == 100


def test_the_list_offers_the_users_views_only(publisher, owner, owner_client):
    # Given the owner's view, and one of another member of the same publisher
    mine = SavedView.objects.create(publisher=publisher, user=owner, name="Mine")
    member = make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    SavedView.objects.create(publisher=publisher, user=member, name="Theirs")

    # When the owner opens the list, Then only their own view is offered
    response = owner_client.get(LEADS)
    assert [view.name for view in response.context["saved_views"]] == ["Mine"]
    assert reverse("lead-view-apply", args=[mine.pk]) in response.content.decode()


@pytest.mark.parametrize("name", ["", "   "])
def test_a_view_needs_a_name(owner_client, name):
    response = _save(owner_client, name, "status=new")

    assert response.status_code == 400
    assert response.context["create_form"].errors["name"]
    assert SavedView.objects.count() == 0


def test_a_second_view_of_the_same_name_is_refused_next_to_the_field(
    publisher, owner, owner_client
):
    SavedView.objects.create(publisher=publisher, user=owner, name="Hot", search="a")

    response = _save(owner_client, "Hot", "q=b")

    assert response.status_code == 400
    assert response.context["create_form"].errors["name"] == [
        "You already have a view with this name."
    ]
    assert list(SavedView.objects.values_list("search", flat=True)) == ["a"]
    assert 'aria-describedby="id_name_error' in response.content.decode()


def test_rename_and_delete(publisher, owner, owner_client):
    view = SavedView.objects.create(publisher=publisher, user=owner, name="Old")
    SavedView.objects.create(publisher=publisher, user=owner, name="Taken")

    taken = owner_client.post(reverse("lead-view-rename", args=[view.pk]), {"name": "Taken"})
    renamed = owner_client.post(reverse("lead-view-rename", args=[view.pk]), {"name": "New"})

    assert taken.status_code == 400
    assert "You already have a view with this name." in taken.content.decode()
    assert renamed.status_code == 302
    view.refresh_from_db()
    assert view.name == "New"
    deleted = owner_client.post(reverse("lead-view-delete", args=[view.pk]))
    assert deleted.status_code == 302
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Taken"]


def test_another_member_of_the_publisher_gets_404_on_a_view(publisher, owner, client_of):
    # Given the owner's view, and a member of the same publisher
    view = SavedView.objects.create(publisher=publisher, user=owner, name="Mine")
    member = make_membership(publisher=publisher, role=Membership.Role.MEMBER).user
    client = client_of(member)

    # When the member tries to apply, rename or delete it
    answers = [
        client.get(reverse("lead-view-apply", args=[view.pk])).status_code,
        client.post(reverse("lead-view-rename", args=[view.pk]), {"name": "x"}).status_code,
        client.post(reverse("lead-view-delete", args=[view.pk])).status_code,
    ]

    # Then each is a 404, and the view is as it was
    assert answers == [404, 404, 404]
    assert SavedView.objects.get().name == "Mine"


def test_a_view_of_the_same_user_in_another_publisher_is_a_404(
    publisher, other_publisher, owner, owner_client
):
    # Given the owner is also a member of another publisher, with a view there
    make_membership(publisher=other_publisher, user=owner)
    elsewhere = SavedView.objects.create(publisher=other_publisher, user=owner, name="There")
    owner_client.post(reverse("switch-publisher"), {"publisher": publisher.pk})

    # When they open it while working in the first publisher, Then it is not found
    response = owner_client.get(reverse("lead-view-apply", args=[elsewhere.pk]))
    assert response.status_code == 404


def test_erasing_a_person_clears_the_search_text_that_names_them(publisher, owner):
    # Given a lead, and views that search for their address, their name and someone else
    lead = make_lead(publisher=publisher, email="ana@x.example", first_name="Ana", last_name="Gil")
    by_address = SavedView.objects.create(
        publisher=publisher, user=owner, name="a", search="ANA@x.example"
    )
    by_name = SavedView.objects.create(publisher=publisher, user=owner, name="b", search="ana gil")
    other = SavedView.objects.create(publisher=publisher, user=owner, name="c", search="bob")

    # When the person is erased
    report = privacy_services.person_erase(
        email="ana@x.example", publisher=publisher, actor=owner, reason="asked", source="portal"
    )

    # Then the search text that named them is cleared, the other view's kept
    for view in (by_address, by_name, other):
        view.refresh_from_db()
    assert (by_address.search, by_name.search, other.search) == ("", "", "bob")
    assert report.counts["saved_views"] == 2
    assert lead.pk
