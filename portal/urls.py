from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from inbound.api import router as inbound_router
from leads.intake.api import api

# Partner Center's HTTPS-endpoint webhook (inbound sits above leads, so it is mounted here).
api.add_router("/inbound", inbound_router)

# The staff pages carry the product's name, not "Django administration".
admin.site.site_header = _("Lead Portal staff")
admin.site.site_title = _("Lead Portal staff")
admin.site.index_title = _("Publishers, leads and deliveries")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("portal.shell.urls")),
    path("", include("leads.urls")),
    path("", include("leads.sending.urls")),
    path("", include("crm.urls")),
    path("", include("inbound.urls")),
    path("", include("inbound.table_urls")),
    path("", include("privacy.urls")),
]

# The first run's demo (seeding, simulator, receiver) is an app of its own, installed
# only with DEBUG on or DEMO_ENABLED set; the product never imports it.
if apps.is_installed("demo"):
    urlpatterns.append(path("", include("demo.urls")))
