"""The system checks of the single sign-on settings."""

from portal.sso.checks import sso_settings_are_complete


def ids(settings) -> set[str]:
    return {problem.id for problem in sso_settings_are_complete()}


def test_no_sso_and_staff_passwords_is_fine(settings):
    assert ids(settings) == set()


def test_staff_without_passwords_need_sso(settings):
    settings.LOCAL_PASSWORDS_FOR_STAFF = False

    assert ids(settings) == {"sso.E001"}


def test_an_incomplete_configuration_is_named(settings):
    settings.DEBUG = False
    settings.OIDC_ISSUER = "http://login.example/v2.0"
    settings.OIDC_CLIENT_ID = "portal"
    settings.OIDC_CLIENT_SECRET = ""
    settings.OIDC_ALLOWED_DOMAINS = []

    assert ids(settings) == {"sso.E002", "sso.W001", "sso.E003"}


def test_a_complete_configuration_passes(settings):
    settings.OIDC_ISSUER = "https://login.microsoftonline.com/tenant/v2.0"
    settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET = "portal", "secret"
    settings.OIDC_ALLOWED_DOMAINS = ["contoso.com"]

    assert ids(settings) == set()
