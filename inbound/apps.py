from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = _("Inbound from Partner Center")

    def ready(self):
        from inbound import webhook  # noqa: F401  (registers its parser)
