"""The sending identity's pages, in the settings area."""

from django.urls import path

from leads.sending import views

urlpatterns = [
    path("settings/sending/", views.sending_identity, name="settings-sending"),
    path("settings/sending/check/", views.sending_identity_check, name="settings-sending-check"),
]
