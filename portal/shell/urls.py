"""The portal shell's URLs: sign-in and password reset, language, the dashboard, settings
and the health check."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal.shell import health, lead_timeline, notification_views, views
from portal.sso.forms import LoginForm
from portal.sso.views import LogoutView

urlpatterns = [
    path("", views.home, name="home"),
    path("publisher/switch/", views.publisher_switch, name="switch-publisher"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/tokens/", views.token_create, name="settings-token-create"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        views.token_revoke,
        name="settings-token-revoke",
    ),
    path("settings/retention/", views.retention_save, name="settings-retention"),
    path(
        "settings/notifications/",
        views.notifications_save,
        name="settings-notifications",
    ),
    path(
        "publisher/<int:publisher_id>/leads/<uuid:lead_id>/",
        notification_views.lead_open,
        name="lead-open",
    ),
    path("leads/<uuid:lead_id>/timeline/", lead_timeline.lead_timeline, name="lead-timeline"),
    path("settings/members/", views.member_invite, name="settings-member-invite"),
    path(
        "settings/members/<int:membership_id>/role/",
        views.member_role,
        name="settings-member-role",
    ),
    path(
        "settings/members/<int:membership_id>/remove/",
        views.member_remove,
        name="settings-member-remove",
    ),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LoginForm
        ),
        name="login",
    ),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
]
