"""Pieces the leads admin modules share."""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet

# Actions offered on the changelist and on each object's page (Django 6.1).
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


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


# --- Publishers ------------------------------------------------------------------------


class ReadOnlyAdminMixin:
    """A log or a credential that staff read; services and commands write it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
