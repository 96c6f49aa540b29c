from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM delivery")

    def ready(self):
        from crm import (
            checks,  # noqa: F401  (registers the system checks)
            coverage,
            selectors,
        )
        from crm.referrals import push
        from leads.catalog import selectors as leads_selectors
        from leads.referrals import services as referral_services

        # Intake's cached coverage of each publisher hears of target changes.
        coverage.coverage_watch()
        leads_selectors.listing_delivery_check_register(selectors.listing_has_verified_target)
        # A publisher's referral change is sent by a crm worker (leads does not import crm).
        referral_services.referral_push_waker_register(push.referral_push_task.delay)
