"""The owner's privacy pages, under the settings."""

from django.urls import path

from privacy import views

urlpatterns = [
    path("settings/privacy/", views.privacy_find, name="privacy"),
    path("settings/privacy/export/", views.privacy_export, name="privacy-export"),
    path("settings/privacy/erase/", views.privacy_erase, name="privacy-erase"),
    path("settings/privacy/access-log/", views.access_log, name="privacy-access-log"),
]
