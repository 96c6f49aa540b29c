"""The portal shell's URLs: sign-in, language, the dashboard and the health check."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("publisher/switch/", views.publisher_switch, name="switch-publisher"),
    path("healthz", views.healthz, name="healthz"),
    path("settings/", views.settings_page, name="settings"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
]
