from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = _("Inbound from Partner Center")

    def ready(self):
        from inbound import receive, table, webhook  # noqa: F401  (register their parsers)
        from leads.catalog import services as catalog_services

        catalog_services.listing_published_register(receive.inbound_listing_published)
