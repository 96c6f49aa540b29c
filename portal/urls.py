from django.contrib import admin
from django.urls import include, path

from leads.intake.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("portal.urls_shell")),
    path("", include("leads.urls")),
    path("", include("crm.urls")),
]
