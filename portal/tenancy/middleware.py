"""The current publisher of a request: which tenant the portal is showing.

A user of several publishers picks one with the switcher; the choice lives in the
session and is re-checked against the user's memberships on every request, so a
stale or forged session value never reaches another publisher's data.
"""

from django.utils.functional import SimpleLazyObject

from portal.tenancy import selectors

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
