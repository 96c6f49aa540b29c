from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    """Publishers and memberships. The label stays "portal", so do the tables and migrations."""

    name = "portal.tenancy"
    label = "portal"
    verbose_name = _("Portal and tenancy")
