"""Single sign-on (the names are mozilla-django-oidc's) and the staff two-factor pages."""

from django.urls import path

from portal.sso import otp_views, views

urlpatterns = [
    path("oidc/authenticate/", views.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", views.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("accounts/2fa/", otp_views.setup, name="otp-setup"),
    path("accounts/2fa/qr.svg", otp_views.qr_code, name="otp-qr"),
    path("accounts/2fa/verify/", otp_views.verify, name="otp-verify"),
]
