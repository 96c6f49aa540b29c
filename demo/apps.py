import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The first run's demo, installed only with DEBUG on or DEMO_ENABLED set."""

    name = "demo"
    label = "demo"
    verbose_name = _("First-run demo")

    def ready(self):
        from demo.log_filters import DeliberateBadLeadFilter

        # The simulator's deliberate bad leads are counted, not logged as warnings.
        logging.getLogger("django.request").addFilter(DeliberateBadLeadFilter())
