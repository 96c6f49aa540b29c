from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM delivery")

    def ready(self):
        from crm import (
            checks,  # noqa: F401  (registers the system checks)
            selectors,
        )
        from leads.catalog import selectors as leads_selectors

        leads_selectors.listing_delivery_check_register(selectors.listing_has_verified_target)
