"""Writes of saved views. A name is unique per user and publisher (a constraint): a
second view of the same name is refused with a field error, never overwritten."""

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from leads.saved_views.models import SavedView


def _name_taken() -> ValidationError:
    return ValidationError({"name": _("You already have a view with this name.")})


@transaction.atomic
def saved_view_create(*, publisher, user, name: str, state: dict) -> SavedView:
    """Save the list's state (LeadFilterForm.saved_state) as the user's view `name`."""
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                publisher=publisher,
                user=user,
                name=name,
                filters=state["filters"],
                search=state["search"],
                sort=state["sort"],
                columns=state["columns"],
            )
    except IntegrityError as exc:
        raise _name_taken() from exc


@transaction.atomic
def saved_view_rename(*, view: SavedView, name: str) -> SavedView:
    """Give the view another name (refused when the user has one of that name)."""
    view.name = name
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "updated_at"])
    except IntegrityError as exc:
        raise _name_taken() from exc
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    """Delete the view."""
    view.delete()


def saved_view_query(view: SavedView) -> str:
    """The list's query string that the view stands for ("" for an empty view)."""
    params: list[tuple[str, str]] = list(view.filters.items())
    if view.search:
        params.append(("q", view.search))
    if view.sort:
        params.append(("sort", view.sort))
    if view.columns is not None:
        params += [("col", "name")] + [("col", key) for key in view.columns if key != "name"]
    return urlencode(params)
