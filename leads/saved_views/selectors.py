"""Reads of saved views: always by publisher and user, so another's view is never found."""

from django.db.models import QuerySet

from leads.saved_views.models import SavedView


def saved_views_for_user(*, publisher, user) -> QuerySet[SavedView]:
    """The user's views within the publisher, by name."""
    return SavedView.objects.filter(publisher=publisher, user=user).order_by("name", "id")


def saved_view_get_for_user(*, publisher, user, view_id: int) -> SavedView | None:
    """The user's view with this id within the publisher; else None."""
    return saved_views_for_user(publisher=publisher, user=user).filter(pk=view_id).first()
