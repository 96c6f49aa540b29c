"""The lead list stays clean in the browser while it is sorted, filtered and paged with
htmx: no change logs a CSP violation (an inline style, say)."""

import pytest

from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
def test_sorting_filtering_and_paging_the_leads_logs_no_error(watched_in, locale):
    membership = factories.make_membership()
    for number in range(55):
        factories.make_lead(publisher=membership.publisher, first_name=f"Ada{number:02}")
    watched = watched_in(locale)
    log_in(watched, membership.user.username, "correct horse battery staple")
    page = watched.page

    page.goto("/leads/")
    page.locator("th a[href*='sort=']").first.click()
    page.wait_for_url("**sort=**")
    page.locator("a[rel='next']").click()
    page.wait_for_url("**after=**")
    page.locator("select[name='status']").select_option("new")
    page.wait_for_url("**status=new**")  # htmx pushed each change
    watched.assert_clean()
