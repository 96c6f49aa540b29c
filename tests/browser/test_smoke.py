"""The browser harness itself: a real chromium signs in and sees a clean dashboard."""

import pytest

from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_publisher_signs_in_and_sees_the_dashboard(watched):
    membership = factories.make_membership()
    factories.make_listing(publisher=membership.publisher, name="Contoso Smoke Listing")

    log_in(watched, membership.user.username, "correct horse battery staple")

    page = watched.page
    assert page.url.endswith("/")
    assert membership.publisher.name in page.content()
    watched.screenshot("smoke-dashboard")
    watched.assert_clean()
