"""Access rules of the portal's pages: a member of the current publisher, or one of its owners;
and what a page finds of another publisher's answers 404, like what does not exist.

The current publisher is set on the request by `portal.tenancy.middleware`.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods


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


def owner_required_to_post(view):
    """A page every member reads and only the publisher's owners post to (a settings page):
    a GET shows it to any member; a POST by a member who is not an owner is refused before
    the view runs."""

    @wraps(view)
    @publisher_required
    @require_http_methods(["GET", "POST"])
    def wrapped(request, *args, **kwargs):
        if request.method == "POST" and not request.membership.is_owner:
            raise PermissionDenied(_("Only the publisher's owners can do this."))
        return view(request, *args, **kwargs)

    return wrapped


def found_or_404[Row](row: Row | None, message: str) -> Row:
    """What a publisher-scoped selector found; None (unknown, or another publisher's)
    answers 404 with `message`, the same either way."""
    if row is None:
        raise Http404(message)
    return row
