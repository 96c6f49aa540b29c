"""Reads for tenancy. Every publisher-facing read starts from the user's memberships."""

from django.db.models import QuerySet

from portal.tenancy.models import Membership, Publisher


def memberships_for_user(*, user) -> QuerySet[Membership]:
    """The publishers a user may act for, by publisher name."""
    return (
        Membership.objects.filter(user=user).select_related("publisher").order_by("publisher__name")
    )


def membership_current(*, user, publisher_id) -> Membership | None:
    """The membership the session points at, else the user's first one."""
    memberships = memberships_for_user(user=user)
    if publisher_id is not None:
        chosen = memberships.filter(publisher_id=publisher_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def membership_get_for_user(*, user, publisher_id: int) -> Membership | None:
    """The user's membership in one publisher, or None when the user has none there."""
    return memberships_for_user(user=user).filter(publisher_id=publisher_id).first()


def membership_get_in_publisher(*, publisher, membership_id: int) -> Membership | None:
    """One membership of this publisher, or None (another publisher's id included)."""
    return Membership.objects.filter(publisher=publisher, pk=membership_id).first()


def memberships_of_publisher(*, publisher) -> QuerySet[Membership]:
    """Everyone who may act for this publisher, by email."""
    return (
        Membership.objects.filter(publisher=publisher)
        .select_related("user")
        .order_by("user__email", "user__username")
    )


def publisher_get(*, publisher_id: int) -> Publisher:
    """A fresh copy of one publisher, for a form that must not change the one on the request."""
    return Publisher.objects.get(pk=publisher_id)
