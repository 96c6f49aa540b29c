"""The portal shell's URLs: sign-in and password reset, language, the dashboard, settings
and the health check."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal.shell import health, lead_timeline, notification_views, views
from portal.sso.forms import LoginForm
from portal.sso.views import LogoutView

settings_urls = [
    path("", views.settings_page, name="settings"),
    path("tokens/", views.token_create, name="settings-token-create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="settings-token-revoke"),
    path("retention/", views.retention_save, name="settings-retention"),
    path("notifications/", views.notifications_save, name="settings-notifications"),
    path("members/", views.member_invite, name="settings-member-invite"),
    path("members/<int:membership_id>/role/", views.member_role, name="settings-member-role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="settings-member-remove"),
]

password_reset_urls = [
    path("", views.PasswordResetView.as_view(), name="password_reset"),
    path("done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "complete/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("publisher/switch/", views.publisher_switch, name="switch-publisher"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("settings/", include(settings_urls)),
    path(
        "publisher/<int:publisher_id>/leads/<uuid:lead_id>/",
        notification_views.lead_open,
        name="lead-open",
    ),
    path("leads/<uuid:lead_id>/timeline/", lead_timeline.lead_timeline, name="lead-timeline"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LoginForm
        ),
        name="login",
    ),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", include(password_reset_urls)),
    path("i18n/", include("django.conf.urls.i18n")),
]
