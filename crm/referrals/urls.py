"""The Partner Center connection's pages, under the settings."""

from django.urls import path

from crm.referrals import views

urlpatterns = [
    path("", views.connection_page, name="crm-referral-connection"),
    path("pause/", views.connection_pause, name="crm-referral-connection-pause"),
    path("resume/", views.connection_resume, name="crm-referral-connection-resume"),
    path("sync/", views.connection_sync_now, name="crm-referral-connection-sync"),
]
