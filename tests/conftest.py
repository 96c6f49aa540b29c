import pytest

from tests import factories


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
    """Cached figures (dashboard funnel, delivery health) never leak between tests or runs."""
    from django.core.cache import cache

    cache.clear()
    yield
