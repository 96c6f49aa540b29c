"""A value shown once: a new secret or URL kept in the session for exactly one page view.

An action that creates a secret (a CRM target's signing secret, an inbound URL) keeps it
server-side (database sessions) under its own key, tied to the object it belongs to; the
object's page takes it out and shows it, so a reload or another object's page never shows
it again.
"""

from django.http import HttpRequest


def once_keep(request: HttpRequest, *, key: str, object_id: int, value: str) -> None:
    """Keep `value` for the next view of the object `object_id`, under the session `key`."""
    request.session[key] = {"object_id": object_id, "value": value}


def once_pop(request: HttpRequest, *, key: str, object_id: int) -> str:
    """The value kept under `key` for this object, forgotten as it is read; "" if none."""
    shown = request.session.get(key)
    if not shown or shown.get("object_id") != object_id:
        return ""
    del request.session[key]
    return shown["value"]
