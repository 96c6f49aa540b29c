"""Pieces the leads and crm admin modules share."""

from collections.abc import Callable, Iterable, Sequence

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext

from portal.paginators import CheapCountPaginator

# Actions offered on the changelist and on each object's page (Django 6.1).
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


def rows_apply[Row](rows: Iterable[Row], apply: Callable[[Row], object]) -> int:
    """Call `apply` on each row in turn; return how many rows it was called on."""
    count = 0
    for row in rows:
        apply(row)
        count += 1
    return count


def count_reported(request, message: str, count: int) -> None:
    """Report an action's count: `message` is the ngettext form chosen for `count`."""
    messages.success(request, message % {"count": count})


def row_skipped(request, row, reason: str) -> None:
    """Say which selected row an action left alone, and why."""
    messages.warning(
        request, gettext("%(row)s was skipped: %(reason)s") % {"row": row, "reason": reason}
    )


def rows_action[Row](
    apply: Callable[[Row], object],
    *,
    description: str,
    done: Callable[[int], str],
    permissions: Sequence[str] = ("change",),
    location: admin.ActionLocation | list[admin.ActionLocation] = BOTH_LOCATIONS,
    rows: Callable[[QuerySet], Iterable[Row]] = lambda queryset: queryset,
    skip: Callable[[Row], str | None] = lambda row: None,
):
    """The admin action that calls `apply` (a service) on each selected row that `rows`
    keeps, then reports their count with the message `done(count)`. A row for which
    `skip` gives a reason is left alone, and the reason is shown beside its name."""

    @admin.action(description=description, permissions=permissions, location=location)
    def apply_selected(modeladmin, request, queryset):
        kept, skipped = [], 0
        for row in rows(queryset):
            if reason := skip(row):
                row_skipped(request, row, reason)
                skipped += 1
            else:
                kept.append(row)
        with transaction.atomic():  # all the selected rows, or none
            count = rows_apply(kept, apply)
        if count or not skipped:
            count_reported(request, done(count), count)

    return apply_selected


def queryset_action(
    apply: Callable[[QuerySet], int],
    *,
    description: str,
    done: Callable[[int], str],
    permissions: Sequence[str] = ("change",),
    location: admin.ActionLocation | list[admin.ActionLocation] = BOTH_LOCATIONS,
):
    """The admin action that calls `apply` (a service) once on all the selected rows,
    for a service that updates them together, then reports the count it returns with the
    message `done(count)`."""

    @admin.action(description=description, permissions=permissions, location=location)
    def apply_to_selected(modeladmin, request, queryset):
        with transaction.atomic():
            count = apply(queryset)
        count_reported(request, done(count), count)

    return apply_to_selected


class RecentRowsFormSet(BaseInlineFormSet):
    """An inline of the most recent rows only: a lead may have thousands of them."""

    limit = 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The model's ordering is newest first, so the slice keeps the latest rows.
        self.queryset = self.queryset[: self.limit]


class ReadOnlyInlineMixin:
    """An inline that shows rows and never adds, changes or deletes one."""

    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecentRowsInline(ReadOnlyInlineMixin, admin.TabularInline):
    """A read-only table of an object's latest rows: every one of `fields` is read-only, and
    the foreign keys named in `select_related` come in the same query."""

    formset = RecentRowsFormSet
    show_change_link = False
    select_related: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_queryset(self, request):
        # select_related() with no names would follow every foreign key.
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset


class ReadOnlyAdminMixin:
    """A log or a credential that staff read; services and commands write it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BigTableAdminMixin:
    """A changelist over millions of rows: it never counts the whole table."""

    paginator = CheapCountPaginator
    show_full_result_count = False


class FixedOnceAddedMixin:
    """Fields set when a row is added and read-only on its page from then on."""

    fixed_once_added: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is not None:
            return (*self.fixed_once_added, *fields)
        return fields
