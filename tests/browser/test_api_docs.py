"""/api/v1/docs: Swagger UI from the portal's own static files, under the portal's CSP."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_docs_render_every_operation_under_the_csp(watched):
    # Given the docs page, which loads Swagger UI and its init script from /static/
    page = watched.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    # When a browser opens it
    response = page.goto("/api/v1/docs")

    # Then Swagger UI has rendered the operations of the generated OpenAPI document
    assert response.status == 200
    intake = page.locator(".opblock-summary-path", has_text="/api/v1/leads").first
    intake.wait_for(state="visible")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/v1/leads" in [path.strip() for path in paths]
    assert "/api/v1/publisher/leads" in [path.strip() for path in paths]
    assert page.locator(".info .title").inner_text().startswith("Lead Portal API")
    # and an operation opens with its schema and example (highlighted code, no inline CSS)
    intake.click()
    page.get_by_role("button", name="Try it out").first.wait_for(state="visible")
    assert page.locator(".opblock.is-open .opblock-summary-path").first.inner_text() == (
        "/api/v1/leads"
    )
    # every asset came from the portal itself, and nothing was blocked or failed
    origin = page.url.split("/api/v1/docs")[0]
    assert [url for url in requested if not url.startswith(origin)] == []
    assert watched.failed_responses == []
    watched.screenshot("api-docs")
    watched.assert_clean()
