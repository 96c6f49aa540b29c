from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = _("Leads")

    def ready(self):
        from anymail.signals import tracking

        from leads import checks  # noqa: F401  (registers the system checks)
        from leads.intake.reference import intake_models_watch
        from leads.nurture.events import esp_event_receive
        from leads.reporting.rollup import rollup_after_migrate

        # ESP tracking events (anymail's webhooks) update the sends (docs/email.md).
        tracking.connect(esp_event_receive, dispatch_uid="leads.nurture.events")
        # `migrate` leaves the dashboard's daily figures complete (leads.reporting.rollup).
        post_migrate.connect(rollup_after_migrate, sender=self, dispatch_uid="leads.rollup")
        # Intake's per-process cache of keys, listings, rules and campaigns hears of changes.
        intake_models_watch()
