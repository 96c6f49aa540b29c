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

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from leads.nurture.links import link_sign
from leads.nurture.unsubscribe import token_make
from tests.portal.tenancy_params import (
    _campaign,
    _lead,
    _listing,
    _merge,
    _note,
    _other_lead,
    _saved_view,
    _step,
    _table,
    _target,
    _to_inbound,
    _to_lead,
    _to_sequence,
    _to_table,
    _to_target,
)
from tests.portal.tenancy_world import World, body_of, client_for, foreign_rows

EXCLUDED = ("admin/", "api/v1/", "i18n/", "static/")
LOGIN = "/accounts/login/"

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


def _page(**options) -> Route:
    return Route(PAGE, **options)


def _object_page(kwargs, **options) -> Route:
    return Route(PAGE, kwargs=kwargs, is_object=True, **options)


def _action(kwargs, to, data=lambda w: {}, **options) -> Route:
    return Route(ACTION, kwargs=kwargs, data=data, owner=302, to=to, is_object=True, **options)


def _connection_action() -> Route:
    return Route(
        ACTION,
        data=lambda w: {},
        owner=302,
        to=lambda w: "/settings/partner-center/",
        owner_only=True,
    )


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
    # Single sign-on: 404 while OIDC_ISSUER is unset (tests/sso covers it configured).
    "oidc_authentication_init": _public(anonymous=404),
    "oidc_authentication_callback": _public(anonymous=404),
    # Staff two-factor: staff only (a publisher's user gets 404, tests/sso/test_staff_otp.py).
    "otp-setup": _public(anonymous=302),
    "otp-qr": _public(anonymous=302),
    "otp-verify": _public(anonymous=302),
    # No beat runs here, so readiness answers 503 (tests/portal/test_health.py).
    "readyz": _public(anonymous=503),
    # The test client scrapes from loopback (tests/portal/test_metrics.py: the token).
    "metrics": _public(),
    "unsubscribe": _public(
        kwargs=lambda w: {
            "token": token_make(publisher_id=w.a.publisher.pk, email="lead1@alphaqz.example")
        }
    ),
    # A tracked link redirects to its signed URL; the ESP webhooks are absent without a secret.
    "tracked-link": _public(
        kwargs=lambda w: {"signed": link_sign(send_id=0, url="https://example.com/")},
        anonymous=302,
    ),
    "anymail-sendgrid-tracking": _public(data=lambda w: {}, anonymous=404),
    "anymail-postmark-tracking": _public(data=lambda w: {}, anonymous=404),
    "anymail-amazon-ses-tracking": _public(data=lambda w: {}, anonymous=404),
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
    # Any member saves their own new-lead email choice; an email's lead link switches to
    # the lead's publisher, one of the user's own only.
    "settings-notifications": Route(
        ACTION,
        data=lambda w: {"mode": "digest", "scope": "all", "digest_hour": 8, "time_zone": "UTC"},
        owner=302,
        to=lambda w: "/settings/#notifications",
    ),
    # The publisher's retention: owners only; it acts on the signed-in publisher's own.
    "settings-retention": Route(
        ACTION,
        data=lambda w: {"mode": "on", "months": 24},
        owner=302,
        to=lambda w: "/settings/#retention",
        owner_only=True,
    ),
    # The sending identity: any member reads it; owners set it and check its DNS (with no
    # identity yet, the check says so and looks nothing up).
    "settings-sending": _page(),
    "settings-sending-check": Route(
        ACTION,
        data=lambda w: {},
        owner=302,
        to=lambda w: "/settings/sending/",
        owner_only=True,
    ),
    "lead-open": _object_page(
        lambda w: {"publisher_id": w.a.publisher.pk, "lead_id": w.a.lead.uuid}, owner=302
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
    "listing-detail": _object_page(_listing),
    "listing-inbound": _object_page(_listing),
    "listing-inbound-create": _action(_listing, _to_inbound),
    "listing-inbound-rotate": _action(_listing, _to_inbound),
    "listing-inbound-revoke": _action(_listing, _to_inbound),
    "listing-inbound-retry": _action(
        lambda w: {**_listing(w), "item_id": w.a.inbound_item.pk}, _to_inbound
    ),
    "leads": _page(),
    "leads-export": _page(),
    # The report and its CSV: a period wide enough to hold every one of A's leads.
    "reports": _page(query="?period=90"),
    "reports-export": _page(query="?period=90"),
    "leads-import": _page(),
    "lead-detail": _object_page(lambda w: {"lead_id": w.a.lead.uuid}),
    # Working a lead: any member; another publisher's lead, note or merge is 404.
    "leads-mine": _page(),
    "lead-timeline": _object_page(_lead),
    "lead-assign": _action(_lead, _to_lead("work"), data=lambda w: {"owner": ""}),
    "lead-next-step": _action(
        _lead, _to_lead("work"), data=lambda w: {"next_step": "Call", "next_step_due": ""}
    ),
    "lead-next-step-done": _action(_lead, _to_lead("work"), data=lambda w: {"done": "0"}),
    "lead-note-add": _action(_lead, _to_lead("notes"), data=lambda w: {"body": "A note"}),
    "lead-note-edit": _object_page(_note),
    "lead-note-delete": _action(_note, _to_lead("notes")),
    "lead-merge": _action(
        _lead,
        _to_lead("merges"),
        data=lambda w: {"other_email": _other_lead(w).email, "survivor": "this"},
    ),
    "lead-merge-undo": _action(_merge, _to_lead("merges")),
    # Saved views are the user's own: another publisher's (or member's) view is a 404.
    "lead-views": _page(),
    "lead-view-apply": _object_page(_saved_view, owner=302),
    "lead-view-rename": _action(
        _saved_view, lambda w: "/leads/views/", data=lambda w: {"name": "alphaqz renamed"}
    ),
    "lead-view-delete": _action(_saved_view, lambda w: "/leads/views/"),
    "referrals": _page(),
    "referral-detail": _object_page(lambda w: {"referral_id": w.a.referral.pk}),
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
    "campaign-sequence-click-tracking": _action(_campaign, _to_sequence),
    "campaign-step-create": _action(
        _campaign,
        _to_sequence,
        data=lambda w: {
            "delay_value": 1,
            "delay_unit": "days",
            "subject": "Next",
            "body": "Hi",
            "stop_condition": "",
        },
    ),
    "campaign-step-edit": _object_page(_step),
    "campaign-step-delete": _action(_step, _to_sequence),
    "campaign-step-preview": _object_page(_step),
    "campaign-step-live-preview": Route(
        ACTION,
        kwargs=_campaign,
        data=lambda w: {"subject": "Hi {first_name}", "body": "Hello **{company}**"},
        owner=200,
        is_object=True,
    ),
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
    # The Partner Center connection: one per publisher, so no id in its URLs.
    "crm-referral-connection": _page(owner_only=True),
    "crm-referral-connection-pause": _connection_action(),
    "crm-referral-connection-resume": _connection_action(),
    "crm-referral-connection-sync": _connection_action(),
    "crm-delivery-redeliver": _action(
        lambda w: {"delivery_id": w.a.delivery.pk}, lambda w: "/crm/deliveries/"
    ),
    # Partner Center Azure Table sources.
    "inbound-tables": _page(),
    "inbound-table-create": _page(owner_only=True),
    "inbound-table-detail": _object_page(_table),
    "inbound-table-pause": _action(_table, _to_table),
    "inbound-table-resume": _action(_table, _to_table),
    "inbound-table-read": _action(_table, _to_table),
    "inbound-table-retry": _action(_table, _to_table),
    "inbound-table-item-retry": _action(
        lambda w: {**_table(w), "item_id": w.a.table_item.pk}, _to_table
    ),
    # Privacy requests: an address names nothing of another publisher's (it finds nothing).
    "privacy": _page(owner_only=True),
    "privacy-export": Route(
        ACTION,
        data=lambda w: {"email": w.a.lead.email},
        owner_only=True,
        other_to="/settings/privacy/",
    ),
    "privacy-erase": Route(
        ACTION,
        data=lambda w: {"email": w.a.lead.email, "reason": "ticket", "confirm": "on"},
        owner=302,
        to=lambda w: "/settings/privacy/",
        owner_only=True,
        other_to="/settings/privacy/",
    ),
    "privacy-access-log": _page(owner_only=True),
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
    response = _request(client_for(world.a.owner), world, name)

    body_of(response)
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
    response = _request(client_for(getattr(world.b, role)), world, name)

    text = body_of(response)
    if route.is_object:
        assert response.status_code == 404
    elif role == "member" and route.owner_only:
        assert response.status_code == 403
    elif route.other_to is not None:
        assert response.status_code == 302
        assert response["Location"] == route.other_to
    else:
        assert response.status_code == route.owner
    assert foreign_rows(text, world) == (0, set())


@pytest.mark.parametrize("name", _names(PAGE, ACTION))
def test_anonymous_goes_to_the_login_page(world, name):
    response = _request(client_for(), world, name)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")


@pytest.mark.parametrize("name", _names(PUBLIC))
def test_public_routes_answer_anyone(world, name):
    response = _request(client_for(), world, name)

    body_of(response)
    assert response.status_code == ROUTES[name].anonymous


def test_the_unsubscribe_page_names_only_the_publisher(world):
    text = body_of(client_for().get(_url(world, "unsubscribe")))

    assert "Alphaqz Apps" in text
    assert "lead1@alphaqz.example" not in text
