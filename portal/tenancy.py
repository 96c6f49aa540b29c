"""The current publisher of a request: which tenant the portal is showing.

A user of several publishers picks one with the switcher; the choice lives in the
session and is re-checked against the user's memberships on every request, so a
stale or forged session value never reaches another publisher's data.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from portal import selectors

SESSION_KEY = "current_publisher_id"


def _resolve(request):
    user = request.user
    if not user.is_authenticated:
        return None
    membership = selectors.membership_current(
        user=user, publisher_id=request.session.get(SESSION_KEY)
    )
    return membership


class CurrentPublisherMiddleware:
    """Sets `request.membership` and `request.publisher` (None for a user without one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = SimpleLazyObject(lambda: _resolve(request))
        request.membership = membership
        request.publisher = SimpleLazyObject(lambda: membership.publisher if membership else None)
        return self.get_response(request)


def current_publisher(request):
    """Template context: the current membership, publisher and the switcher's choices."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    membership = request.membership
    return {
        "current_membership": membership if membership else None,
        "current_publisher": membership.publisher if membership else None,
        "switchable_memberships": SimpleLazyObject(
            lambda: list(selectors.memberships_for_user(user=request.user))
        ),
    }


def publisher_required(view):
    """A portal page of the current publisher: signed in and a member of a publisher.

    Anonymous users go to the login page; a user without any publisher sees the page
    that says so. Views still read through selectors that take `request.publisher`.
    """

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not request.membership:
            return render(request, "portal/no_publisher.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def owner_required(view=None, *, lookup=None):
    """A page only the publisher's owners may use (targets, members, rules, tokens).

    `lookup(request, **url_kwargs)` finds the object the URL names within the current
    publisher. When given, a non-owner asking for an object of another publisher gets
    404, like everybody else, rather than a 403 that would confirm nothing but still
    differ from the answer for an object that does not exist.
    """

    def decorate(view):
        @wraps(view)
        @publisher_required
        def wrapped(request, *args, **kwargs):
            if not request.membership.is_owner:
                if lookup is not None and lookup(request, **kwargs) is None:
                    raise Http404
                raise PermissionDenied(_("Only the publisher's owners can do this."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate
