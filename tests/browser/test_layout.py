"""The portal's layout at a laptop's and a phone's width, in English and Spanish
(Spanish must not hide lead columns behind a horizontal scroll, show two identical
"Cambiar" buttons or wrap the navigation onto three lines)."""

import pytest

from tests import factories
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = {"laptop": 1366, "phone": 390}


@pytest.mark.parametrize("locale", ["en-US", "es-ES"])
@pytest.mark.parametrize("device", ["laptop", "phone"])
def test_the_header_and_the_lead_list_fit_the_width(watched_in, locale, device):
    publisher = factories.make_publisher(name="Contoso", co_sell_enrolled=True)
    membership = factories.make_membership(publisher=publisher)
    factories.make_membership(user=membership.user, publisher=factories.make_publisher())
    factories.make_lead(publisher=publisher, company="Contoso Pharmaceuticals Worldwide")
    watched = watched_in(locale)
    page = watched.page
    page.set_viewport_size({"width": WIDTHS[device], "height": 900})
    log_in(watched, membership.user.username, "correct horse battery staple")

    page.goto("/leads/")

    buttons = page.locator("header .header-tools button").all_inner_texts()
    assert len(buttons) == len(set(buttons)), buttons
    # The page itself never scrolls sideways (a wide table scrolls inside its own box).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    nav = page.locator("nav.main-nav ul").bounding_box()
    link = page.locator("nav.main-nav a").first.bounding_box()
    if device == "laptop":
        assert nav["height"] < 1.5 * link["height"]  # one line
        table = page.locator(".lead-results .table-wrap")
        assert table.evaluate("box => box.scrollWidth <= box.clientWidth + 1")
    watched.screenshot(f"layout-leads-{locale}-{device}")
