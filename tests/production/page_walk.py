"""The production smoke test's page walk: every route of the URL conf with real values
in its parameters, fetched without following redirects."""

import re

from django.urls import URLPattern, URLResolver, get_resolver

from tests.production.deployment import Visitor

STATIC_RE = re.compile(r"""(?:src|href)="(/static/[^"]+)\"""")
PARAM_RE = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def patterns(resolver=None, prefix: str = "") -> list[str]:
    """Every route of the URL conf, admin and API included, static files excluded."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += patterns(entry, route)
        elif isinstance(entry, URLPattern) and not route.startswith("static/"):
            found.append(route)
    return found


def fill(route: str, world: dict) -> str:
    """The route with a real value in every parameter, from the seeded deployment."""
    params = world["params"]
    admin_model = re.match(r"admin/(\w+/\w+)/", route)

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in {"object_id", "id", "pk"} and admin_model:
            return world["admin_objects"].get(admin_model.group(1)) or "0"
        if name == "app_label":
            return "leads"
        if name == "url":
            return "no-such-page/"
        if name == "uidb64":
            return "MQ"
        if name == "token" and route.startswith("accounts/"):
            return "set-password"
        return str(params[name])

    path = PARAM_RE.sub(value, route)
    return "/" + path.replace("^", "").replace("$", "")


def walk(visitor: Visitor, urls: list[str]) -> tuple[dict, set]:
    """GET every URL (no redirects followed): status per URL, static files used."""
    statuses, static = {}, set()
    for url in urls:
        response = visitor.get(url)
        statuses[url] = response.status_code
        if "text/html" in response.headers.get("content-type", ""):
            static.update(STATIC_RE.findall(response.text))
    return statuses, static
