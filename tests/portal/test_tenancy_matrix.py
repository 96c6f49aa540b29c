"""The tenancy matrix (reliability-security S3), generated from the URL conf.

Every portal URL pattern (all but admin/, the API, i18n and static) needs an entry in
ROUTES, or `test_every_route_has_an_entry` fails: a new page cannot ship without saying
who may open it. For each publisher route, publisher A's owner gets its page (or the
action's redirect), B's owner and member get 404 on A's objects or B's own page without
one of A's rows, and an anonymous user goes to the login page. Publisher A's rows all
carry the marker "alphaqz" (names, emails, companies, listings, campaigns, targets), so a
leak is a count of that marker in a response of B. A sentinel CRM secret is set in A's
targets and must appear in no response at all, admin pages included.
"""

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from crm.models import CrmTarget, Delivery
from leads.catalog.storefronts import Storefront
from leads.intake import api_keys
from leads.lifecycle.selectors import LEAD_SORTS
from leads.models import Lead, LeadActivity, LeadStatus
from leads.nurture import services as nurture
from leads.nurture.unsubscribe import token_make
from leads.reporting import rollup
from portal.models import Membership
from portal.tenancy.middleware import SESSION_KEY
from tests import factories

A_MARK, B_MARK = "alphaqz", "betaqz"
SENTINEL = "sentinel-crm-secret-7f3a9c"
HTTPS_SECRET = "whsec_" + base64.b64encode(f"{SENTINEL}-sign!".encode()).decode()
SECRETS = (SENTINEL, HTTPS_SECRET.removeprefix("whsec_"))
LEADS_EACH = 500
EXCLUDED = ("admin/", "api/v1/", "i18n/", "static/")
LOGIN = "/accounts/login/"
NEXT_RE = re.compile(r'rel="next" href="[^"]*?[?&;]after=([\w-]+)')
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

pytestmark = pytest.mark.django_db


# --- The URL conf ----------------------------------------------------------------------


def portal_patterns(resolver=None, prefix: str = "") -> list[tuple[str | None, str]]:
    """(name, route) of every pattern outside admin/, the API, i18n and static."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(EXCLUDED):
            continue
        if isinstance(entry, URLResolver):
            found += portal_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            found.append((entry.name, route))
    return found


# --- Two publishers, 500 leads each ------------------------------------------------------


@dataclass
class Side:
    """One publisher's seeded rows; every name and email carries its marker."""

    publisher: object
    owner: object
    member: object
    listing: object
    campaigns: list
    step: object
    target: object
    delivery: object
    token: object
    lead_uuids: set = field(default_factory=set)
    lead: object = None
    test_delivery: object = None


def _side(mark: str) -> Side:
    publisher = factories.make_publisher(
        name=f"{mark.title()} Apps",
        slug=mark,
        publisher_id=mark,
        co_sell_enrolled=True,
        lead_contact_email=f"leads@{mark}.example",
        postal_address=f"1 {mark.title()} Way\nSeattle",
    )
    owner = factories.make_membership(
        publisher=publisher,
        user=factories.make_user(username=f"{mark}-owner", email=f"o@{mark}.example"),
    ).user
    member = factories.make_membership(
        publisher=publisher,
        user=factories.make_user(username=f"{mark}-member", email=f"m@{mark}.example"),
        role=Membership.Role.MEMBER,
    ).user
    listings = [
        factories.make_listing(publisher=publisher, storefront=storefront, name=f"{mark} {n}")
        for n, storefront in enumerate((Storefront.APPSOURCE, Storefront.AZURE_MARKETPLACE))
    ]
    campaigns = [
        factories.make_campaign(
            publisher=publisher,
            storefront=listing.storefront,
            listings=[listing],
            name=f"{mark} campaign {n}",
            code=f"{mark}-{n}",
            goal_qualified_leads=50,
            status="active",
        )
        for n, listing in enumerate(listings)
    ]
    factories.make_rule(publisher=publisher, name=f"{mark} installs")
    step = nurture.step_save(
        campaign=campaigns[0], step=None, delay_hours=0, subject=f"{mark} hello", body="Hello"
    )
    target = factories.make_target(
        publisher=publisher,
        name=f"{mark} target",
        config={"httpsEndpointUrl": "https://127.0.0.1:9/hook", "signingSecret": HTTPS_SECRET},
    )
    factories.make_target(
        publisher=publisher,
        kind=CrmTarget.Kind.MARKETO,
        name=f"{mark} marketo",
        config={"munchkinId": "123-ABC-456", "clientId": "client", "clientSecret": SENTINEL},
    )
    token, _plaintext = api_keys.publisher_token_create(publisher=publisher, name=f"{mark} ci")
    side = Side(publisher, owner, member, listings[0], campaigns, step, target, None, token)
    _leads(side, listings, campaigns)
    side.delivery = Delivery.objects.filter(target=target, status="delivered").first()
    side.lead = Lead.objects.filter(publisher=publisher, origin="marketplace").first()
    side.test_delivery = Delivery.objects.create(
        target=target, event=Delivery.Event.TEST, status="failed", last_status_code=500
    )
    return side


def _leads(side: Side, listings: list, campaigns: list) -> None:
    mark, now = side.publisher.slug, timezone.now()
    statuses = LeadStatus.values
    leads = Lead.objects.bulk_create(
        Lead(
            publisher=side.publisher,
            origin="co-sell" if n % 25 == 0 else "marketplace",
            first_name=f"Ada{n}",
            last_name=f"{mark.title()}{n:03d}",
            email=f"lead{n}@{mark}.example",
            email_normalized=f"lead{n}@{mark}.example",
            company=f"{mark.title()} Industries",
            title="CTO",
            score=n % 101,
            status=statuses[n % len(statuses)],
            first_campaign=campaigns[n % 2] if n % 3 else None,
            latest_campaign=campaigns[n % 2] if n % 3 else None,
            last_activity_at=now - timedelta(hours=n),
        )
        for n in range(LEADS_EACH)
    )
    with connection.cursor() as cursor:  # auto_now_add set them all to now: spread them
        cursor.execute(
            "UPDATE leads_lead SET created_at = now() - (id %% 80) * interval '1 day' "
            "WHERE publisher_id = %s",
            [side.publisher.pk],
        )
    LeadActivity.objects.bulk_create(
        LeadActivity(
            lead=lead,
            listing=listings[n % 2],
            campaign=campaigns[n % 2] if n % 3 else None,
            storefront=listings[n % 2].storefront,
            action_code=("INS", "PLT", "Create")[n % 3],
            lead_source=f"AppSource-INS|{mark} listing",
            description=f"{mark} wants a demo",
            occurred_at=now - timedelta(hours=n),
        )
        for n, lead in enumerate(leads)
    )
    Delivery.objects.bulk_create(
        Delivery(
            lead=lead,
            target=side.target,
            event=Delivery.Event.QUALIFIED,
            status=("delivered", "failed", "pending")[n % 3],
            last_error=f"{mark} receiver refused" if n % 3 == 1 else "",
            next_attempt_at=now,
            delivered_at=now if n % 3 == 0 else None,
        )
        for n, lead in enumerate(leads[::5])
    )
    side.lead_uuids = {str(lead.uuid) for lead in leads}


@dataclass
class World:
    a: Side
    b: Side
    staff: object
    b_api_token: str


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Seeded once for the module in a transaction that is rolled back at its end; each
    test runs in a savepoint inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        a, b = _side(A_MARK), _side(B_MARK)
        rollup.rollup_backfill(days=90, publisher_ids=[a.publisher.pk, b.publisher.pk])
        _api, b_api_token = api_keys.publisher_token_create(publisher=b.publisher, name="api")
        staff = factories.make_user(username="matrix-staff", is_staff=True, is_superuser=True)
        yield World(a, b, staff, b_api_token)
        transaction.set_rollback(True)


# --- The matrix ----------------------------------------------------------------------------

PUBLIC, PAGE, ACTION = "public", "page", "action"


@dataclass(frozen=True)
class Route:
    """How to build a route from A's rows, and what each caller gets.

    `owner`: A's owner's status; `to`: where an action redirects A's owner. `is_object`:
    the URL names one of A's objects, so B's owner and member get 404. `owner_only`: a
    non-object route that B's member gets 403 on. `anonymous`: a public route's status.
    """

    kind: str
    kwargs: Callable = lambda w: {}
    query: str = ""
    data: Callable | None = None  # a POST body; None means GET
    owner: int = 200
    to: Callable | None = None
    is_object: bool = False
    owner_only: bool = False
    other_to: str | None = None  # where B is sent instead (A's ids match nothing of B's)
    anonymous: int = 200


def _campaign(w):
    return {"campaign_id": w.a.campaigns[0].pk}


def _step(w):
    return {**_campaign(w), "step_id": w.a.step.pk}


def _target(w):
    return {"target_id": w.a.target.pk}


def _to_sequence(w):
    return f"/campaigns/{w.a.campaigns[0].pk}/sequence/"


def _to_target(w):
    return f"/crm/targets/{w.a.target.pk}/"


def _page(**options) -> Route:
    return Route(PAGE, **options)


def _object_page(kwargs, **options) -> Route:
    return Route(PAGE, kwargs=kwargs, is_object=True, **options)


def _action(kwargs, to, data=lambda w: {}, **options) -> Route:
    return Route(ACTION, kwargs=kwargs, data=data, owner=302, to=to, is_object=True, **options)


def _public(**options) -> Route:
    return Route(PUBLIC, **options)


ROUTES: dict[str, Route] = {
    # Account and shell.
    "login": _public(),
    "logout": _public(data=lambda w: {}, anonymous=302),
    "password_reset": _public(),
    "password_reset_done": _public(),
    "password_reset_confirm": _public(kwargs=lambda w: {"uidb64": "MQ", "token": "set-password"}),
    "password_reset_complete": _public(),
    "healthz": _public(),
    "unsubscribe": _public(
        kwargs=lambda w: {
            "token": token_make(publisher_id=w.a.publisher.pk, email="lead1@alphaqz.example")
        }
    ),
    # The demo app's receiver (the suite sets DEMO_ENABLED): an unsigned post is refused.
    "demo-receiver": _public(data=lambda w: {}, anonymous=401),
    "home": _page(),
    "switch-publisher": _action(
        lambda w: {}, lambda w: "/", data=lambda w: {"publisher": w.a.publisher.pk}
    ),
    "settings": _page(),
    "settings-token-create": Route(ACTION, data=lambda w: {"name": "ci"}, owner_only=True),
    "settings-token-revoke": _action(
        lambda w: {"token_id": w.a.token.pk}, lambda w: "/settings/#tokens"
    ),
    "settings-member-invite": Route(
        ACTION,
        data=lambda w: {"email": "invitee@example.com", "role": "member"},
        owner=302,
        to=lambda w: "/settings/#members",
        owner_only=True,
    ),
    "settings-member-role": _action(
        lambda w: {"membership_id": w.a.member.memberships.get().pk},
        lambda w: "/settings/#members",
        data=lambda w: {"role": "owner"},
    ),
    "settings-member-remove": _action(
        lambda w: {"membership_id": w.a.member.memberships.get().pk},
        lambda w: "/settings/#members",
    ),
    # Listings, leads, scoring.
    "listings": _page(),
    "listing-create": _page(owner_only=True),
    "listing-detail": _object_page(lambda w: {"listing_id": w.a.listing.pk}),
    "leads": _page(),
    "leads-export": _page(),
    "leads-import": _page(),
    "lead-detail": _object_page(lambda w: {"lead_id": w.a.lead.uuid}),
    "referrals": _page(),
    "scoring": _page(),
    "scoring-progress": _page(),
    # Campaigns and nurture.
    "campaigns": _page(),
    "campaign-create": _page(owner_only=True),
    # A's ids filter to nothing of B's: back to the list, as for any bad choice.
    "campaigns-compare": _page(query="?ids={a0}&ids={a1}", other_to="/campaigns/"),
    "campaign-detail": _object_page(_campaign),
    "campaign-edit": _object_page(_campaign),
    "campaign-sequence": _object_page(_campaign),
    "campaign-sequence-start": _action(_campaign, _to_sequence),
    "campaign-sequence-pause": _action(_campaign, _to_sequence),
    "campaign-step-create": _action(
        _campaign,
        _to_sequence,
        data=lambda w: {"delay_hours": 24, "subject": "Next", "body": "Hi", "stop_condition": ""},
    ),
    "campaign-step-edit": _object_page(_step),
    "campaign-step-delete": _action(_step, _to_sequence),
    "campaign-step-preview": _object_page(_step),
    "campaign-step-test": _action(_step, _to_sequence),
    # CRM targets and deliveries.
    "crm-targets": _page(),
    "crm-target-create": _page(owner_only=True),
    "crm-target-detail": _object_page(_target),
    "crm-target-test": _action(_target, _to_target),
    "crm-target-test-result": _object_page(
        lambda w: {**_target(w), "delivery_id": w.a.test_delivery.pk}
    ),
    "crm-target-pause": _action(_target, _to_target),
    "crm-target-resume": _action(_target, _to_target),
    "crm-target-rotate-secret": _action(_target, _to_target),
    "crm-target-finish-rotation": _action(_target, _to_target),
    "crm-deliveries": _page(),
    "crm-delivery-redeliver": _action(
        lambda w: {"delivery_id": w.a.delivery.pk}, lambda w: "/crm/deliveries/"
    ),
}

# Owner-only object routes whose view checks the role before it looks the object up, so that
# B's member gets 403 (for every id) where S3 asks for 404. Each one is a strict xfail, and
# none is left: `owner_required(lookup=...)` looks the object up first.
ROLE_BEFORE_LOOKUP: set[str] = set()


def _names(*kinds: str) -> list[str]:
    return [name for name, route in ROUTES.items() if route.kind in kinds]


def _url(w: World, name: str) -> str:
    route = ROUTES[name]
    query = route.query.format(a0=w.a.campaigns[0].pk, a1=w.a.campaigns[1].pk)
    return reverse(name, kwargs=route.kwargs(w)) + query


def _request(client: Client, w: World, name: str):
    route = ROUTES[name]
    if route.data is None:
        return client.get(_url(w, name))
    return client.post(_url(w, name), route.data(w))


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    text = raw.decode("utf-8", errors="replace")
    for secret in SECRETS:
        assert text.count(secret) == 0, f"the CRM secret is in {response.request['PATH_INFO']}"
    return text


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _foreign(text: str, w: World, *, typed: str = "") -> tuple[int, set]:
    """How often A's marker appears, and which of A's lead ids; what the user `typed`
    (a search term echoed back in the form and links) is not a row."""
    for echo in filter(None, {typed, quote(typed), quote_plus(typed), escape(typed)}):
        text = text.replace(echo, "")
    return text.lower().count(A_MARK), set(UUID_RE.findall(text)) & w.a.lead_uuids


# --- The URL conf is covered ---------------------------------------------------------------


def test_every_route_has_an_entry():
    patterns = portal_patterns()
    unnamed = [route for name, route in patterns if not name]
    names = {name for name, _route in patterns}

    assert unnamed == []
    assert sorted(names - ROUTES.keys()) == [], "add these routes to ROUTES"
    assert sorted(ROUTES.keys() - names) == [], "these ROUTES entries name no route"


def test_the_walk_finds_the_stable_paths_of_design_5():
    routes = {route for _name, route in portal_patterns()}

    assert routes >= {
        "",
        "accounts/login/",
        "accounts/logout/",
        "listings/",
        "listings/<int:listing_id>/",
        "leads/",
        "leads/<uuid:lead_id>/",
        "leads/export.csv",
        "referrals/",
        "campaigns/",
        "campaigns/<int:campaign_id>/",
        "crm/targets/",
        "crm/targets/<int:target_id>/",
        "crm/deliveries/",
        "scoring/",
        "settings/",
        "unsubscribe/<str:token>/",
    }
    assert not [route for route in routes if route.startswith(EXCLUDED)]


# --- Who gets what ------------------------------------------------------------------------


@pytest.mark.parametrize("name", _names(PAGE, ACTION))
def test_owner_gets_the_page(world, name):
    response = _request(_client(world.a.owner), world, name)

    _body(response)
    route = ROUTES[name]
    assert response.status_code == route.owner
    if route.to is not None:
        assert response["Location"] == route.to(world)


def _other_publisher_params() -> list:
    params = []
    for name in _names(PAGE, ACTION):
        params.append(pytest.param(name, "owner", id=f"{name}-owner"))
        marks = ()
        if name in ROLE_BEFORE_LOOKUP:
            marks = pytest.mark.xfail(strict=True, reason="403 before the lookup, S3 asks 404")
        params.append(pytest.param(name, "member", id=f"{name}-member", marks=marks))
    return params


@pytest.mark.parametrize(("name", "role"), _other_publisher_params())
def test_another_publisher_gets_404_or_only_its_own_rows(world, name, role):
    route = ROUTES[name]
    response = _request(_client(getattr(world.b, role)), world, name)

    text = _body(response)
    if route.is_object:
        assert response.status_code == 404
    elif role == "member" and route.owner_only:
        assert response.status_code == 403
    elif route.other_to is not None:
        assert response.status_code == 302
        assert response["Location"] == route.other_to
    else:
        assert response.status_code == route.owner
    assert _foreign(text, world) == (0, set())


@pytest.mark.parametrize("name", _names(PAGE, ACTION))
def test_anonymous_goes_to_the_login_page(world, name):
    response = _request(_client(), world, name)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")


@pytest.mark.parametrize("name", _names(PUBLIC))
def test_public_routes_answer_anyone(world, name):
    response = _request(_client(), world, name)

    _body(response)
    assert response.status_code == ROUTES[name].anonymous


def test_the_unsubscribe_page_names_only_the_publisher(world):
    text = _body(_client().get(_url(world, "unsubscribe")))

    assert "Alphaqz Apps" in text
    assert "lead1@alphaqz.example" not in text


# --- No list, filter, search, sort, export, chart or API answer shows A's rows -----------


def _list_queries(w: World) -> list[str]:
    a_lead = Lead.objects.filter(publisher=w.a.publisher).order_by("pk").first()
    queries = [
        "",
        f"q={a_lead.email}",
        f"q={A_MARK}",
        "q=Ada",
        "q=Ada Alphaqz",
        f"listing={w.a.listing.pk}",
        f"campaign={w.a.campaigns[0].pk}",
        "storefront=appsource",
        "storefront=azure-marketplace&status=qualified&score_min=10&score_max=90",
        "created_from=2000-01-01&created_to=2100-01-01",
    ]
    return queries + [f"sort={sort}" for sort in LEAD_SORTS]


@pytest.mark.parametrize("path", ["/leads/", "/referrals/", "/leads/export.csv"])
def test_lists_filters_searches_sorts_and_exports_show_no_foreign_row(world, path):
    client = _client(world.b.member)

    for query in _list_queries(world):
        response = client.get(f"{path}?{query}")
        text = _body(response)
        assert response.status_code == 200, query
        typed = parse_qs(query).get("q", [""])[0]
        assert _foreign(text, world, typed=typed) == (0, set()), f"{path}?{query}"


def test_the_lists_show_the_publishers_own_rows(world):
    """The other side of the coin: the pages above do show rows, B's own."""
    client = _client(world.b.member)

    assert _body(client.get("/leads/")).count(f"@{B_MARK}.example") >= 50
    assert _body(client.get("/referrals/")).count(f"@{B_MARK}.example") == 20
    assert _body(client.get(f"/leads/?q=lead3@{B_MARK}.example")).count(f"lead3@{B_MARK}") >= 1


def test_paging_through_the_whole_list_never_reaches_a_foreign_row(world):
    client, url, seen = _client(world.b.owner), "/leads/?sort=name", set()

    while url:
        text = _body(client.get(url))
        assert _foreign(text, world) == (0, set())
        seen |= set(UUID_RE.findall(text)) & world.b.lead_uuids
        after = NEXT_RE.search(text)
        url = f"/leads/?sort=name&after={after.group(1)}" if after else None

    assert len(seen) == LEADS_EACH - LEADS_EACH // 25  # every marketplace lead of B


def test_the_export_holds_exactly_the_publishers_leads(world):
    text = _body(_client(world.b.owner).get("/leads/export.csv"))
    ids = set(UUID_RE.findall(text))

    assert ids == {
        str(u)
        for u in Lead.objects.filter(publisher=world.b.publisher, origin="marketplace").values_list(
            "uuid", flat=True
        )
    }


def test_dashboard_chart_data_holds_only_the_publishers_figures(world):
    text = _body(_client(world.b.member).get("/"))
    charts = {
        name: json.loads(data)
        for name, data in re.findall(
            r'<script id="chart-(\w+)" type="application/json">(.*?)</script>', text, re.S
        )
    }

    assert sorted(charts) == ["by_action", "campaigns", "funnel", "health", "per_day"]
    assert A_MARK not in json.dumps(charts).lower()
    assert charts["campaigns"]["labels"] == [f"{B_MARK} campaign 0", f"{B_MARK} campaign 1"]
    assert charts["health"]["labels"] == [f"{B_MARK} target", f"{B_MARK} marketo"] or sorted(
        charts["health"]["labels"]
    ) == sorted([f"{B_MARK} target", f"{B_MARK} marketo"])
    assert sum(sum(dataset["data"]) for dataset in charts["funnel"]["datasets"]) > 0
    assert _foreign(text, world) == (0, set())


def test_the_publisher_api_returns_no_foreign_lead(world):
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {world.b_api_token}"}
    ids, cursor = set(), None

    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        response = client.get("/api/v1/publisher/leads", params, **auth)
        text = _body(response)
        assert response.status_code == 200
        assert _foreign(text, world) == (0, set())
        page = response.json()
        ids |= {item["id"] for item in page["items"]}
        if not (cursor := page["next_cursor"]):
            break
    foreign = client.get(f"/api/v1/publisher/leads/{world.a.lead.uuid}", **auth)
    anonymous = client.get(f"/api/v1/publisher/leads/{world.a.lead.uuid}")
    filtered = client.get(
        "/api/v1/publisher/leads", {"listing": world.a.listing.pk, "limit": 200}, **auth
    )

    assert ids == world.b.lead_uuids
    assert foreign.status_code == 404
    assert anonymous.status_code == 401
    assert _foreign(_body(filtered), world) == (0, set())


def test_a_forged_session_publisher_shows_only_the_users_own_rows(world):
    client = _client(world.b.owner)
    session = client.session
    session[SESSION_KEY] = world.a.publisher.pk
    session.save()

    text = _body(client.get("/leads/"))

    assert _foreign(text, world) == (0, set())
    assert f"@{B_MARK}.example" in text


def test_a_bulk_move_of_foreign_leads_changes_nothing(world):
    a_leads = list(
        Lead.objects.filter(publisher=world.a.publisher, status="new").values_list("uuid", "status")
    )[:5]

    response = _client(world.b.owner).post(
        "/leads/",
        {"lead": [str(u) for u, _s in a_leads], "to_status": "accepted", "reason": "mine now"},
    )

    assert response.status_code == 302
    after = Lead.objects.filter(uuid__in=[u for u, _s in a_leads]).values_list("uuid", "status")
    assert sorted(after) == sorted(a_leads)


# --- The CRM secret is never shown ---------------------------------------------------------


def test_the_crm_secret_is_on_no_page_admin_included(world):
    staff, owner = _client(world.staff), _client(world.a.owner)
    target_ids = CrmTarget.objects.filter(publisher=world.a.publisher).values_list("pk", flat=True)
    pages = [
        (staff, reverse("admin:crm_crmtarget_changelist")),
        (staff, reverse("admin:crm_crmtarget_changelist") + f"?q={A_MARK}"),
        (staff, reverse("admin:crm_delivery_changelist")),
        (staff, reverse("admin:crm_delivery_change", args=[world.a.delivery.pk])),
        (staff, reverse("admin:leads_lead_change", args=[world.a.lead.pk])),
        *((staff, reverse("admin:crm_crmtarget_change", args=[pk])) for pk in target_ids),
        *((owner, f"/crm/targets/{pk}/") for pk in target_ids),
        (owner, "/crm/targets/"),
        (owner, "/crm/deliveries/"),
        (owner, f"/leads/{world.a.delivery.lead.uuid}/"),
        (owner, "/"),
    ]

    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _body(response)  # asserts the secret is absent
