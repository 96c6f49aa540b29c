"""Browser tests: Playwright drives Debian's chromium (never `playwright install`).

Every page a test opens is watched: a JavaScript dialog, a console error or a
Content-Security-Policy violation fails the test. Screenshots go to
var/test-artifacts/screenshots/ (CI keeps the folder).
"""

import contextlib
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"

# Collects securitypolicyviolation events; init scripts are injected by the browser and
# are not subject to the page's CSP.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(scope="package", autouse=True)
def _allow_async_unsafe():
    """Let the ORM run while Playwright's event loop runs in this thread, for the browser
    tests only.

    Playwright's sync API keeps an event loop marked running in the main thread from
    start to stop, so Django would refuse every ORM call (the tests' own and pytest-django's
    flushes) as if made from async code. The variable is set for this package and then put
    back: left in os.environ, it leaks into other tests' subprocesses (a deploy check then
    reports async.E001). The browser below is package-scoped for the same reason: it must
    stop before the variable goes.
    """
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    if previous is None:
        os.environ.pop(ASYNC_UNSAFE, None)
    else:
        os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="package")
def browser(_allow_async_unsafe):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class WatchedPage:
    """A page plus what went wrong on it."""

    def __init__(self, page):
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.failed_responses: list[str] = []  # names the URL behind "Failed to load resource"
        self.tolerated: tuple[str, ...] = ()
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("response", self._response)
        page.add_init_script(WATCH_CSP)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message):
        if message.type == "error":
            url = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({url})" if url else message.text)

    def _response(self, response):
        if response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.url}")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("window.__cspViolations || []")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self, *, tolerate: tuple[str, ...] = ()):
        """No dialog, console error or CSP violation so far. `tolerate` names URLs (by
        their ending) whose failed loads are a known, separately reported defect. Every
        watched page is checked again when its test ends, with the same tolerance."""
        self.tolerated = tolerate
        assert self.dialogs == []
        errors = [e for e in self.console_errors if not any(f"{t})" in e for t in tolerate)]
        assert errors == [], self.failed_responses
        assert self.csp_violations() == []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_call_failed = report.failed
    return report


@pytest.fixture
def watched_in(request, browser, live_server):
    """Open a watched page in a new browser context: `watched_in("es-ES")` sends
    Accept-Language es. Every context is closed after the test; when the test failed,
    each page is screenshotted first (failed-<test>-<n>.png)."""
    contexts, pages = [], []

    def open_page(locale: str = "en-US") -> WatchedPage:
        context = browser.new_context(base_url=live_server.url, locale=locale)
        contexts.append(context)
        pages.append(WatchedPage(context.new_page()))
        return pages[-1]

    yield open_page
    failed = getattr(request.node, "browser_call_failed", False)
    if failed:
        for number, watched in enumerate(pages, start=1):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
            with contextlib.suppress(Exception):  # a closed page must not hide the failure
                watched.screenshot(f"failed-{name}-{number}")
    try:
        # Every page is checked, not only where a test remembered to: a console
        # error or a CSP violation anywhere in the test fails it.
        if not failed:
            for watched in pages:
                if not watched.page.is_closed():
                    watched.assert_clean(tolerate=watched.tolerated)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def watched(watched_in):
    return watched_in("en-US")


def log_in(watched: WatchedPage, username: str, password: str) -> None:
    page = watched.page
    page.goto("/accounts/login/")
    # By field name, so that it signs in whatever the page's language.
    page.locator("input[name='username']").fill(username)
    page.locator("input[name='password']").fill(password)
    page.locator("input[name='password']").press("Enter")
    page.wait_for_load_state()
