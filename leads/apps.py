from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self):
        from anymail.signals import tracking

        from leads import checks  # noqa: F401  (registers the system checks)
        from leads.nurture.events import esp_event_receive

        # ESP tracking events (anymail's webhooks) update the sends (docs/email.md).
        tracking.connect(esp_event_receive, dispatch_uid="leads.nurture.events")
