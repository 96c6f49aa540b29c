import pytest

from tests import factories
from tests.crm.referrals_support import co_sell, partner_center  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """On SQLite, a test database file as `make run` has (WAL, busy timeout), not memory:
    an in-memory database shared between threads fails at once where a file waits."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(settings.VAR_DIR / "test-leadportal.sqlite3")


@pytest.fixture
def publisher(db):
    return factories.make_publisher()


@pytest.fixture
def owner(db, publisher):
    """A user who owns `publisher`."""
    return factories.make_membership(publisher=publisher).user


@pytest.fixture
def other_publisher(db):
    return factories.make_publisher(name="Other Publisher")


@pytest.fixture
def staff_user(db):
    return factories.make_user(username="staff", is_staff=True, is_superuser=True)


@pytest.fixture(autouse=True)
def _english(settings):
    """Each test starts in English, whatever language an earlier request activated."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached figures (dashboard funnel, delivery health) and intake's per-process reference
    data never leak between tests or runs (a rolled-back test sends no signal)."""
    from django.core.cache import cache

    from leads.intake import reference

    cache.clear()
    reference.reset()
    yield
