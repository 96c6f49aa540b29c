"""The scoring page: the rules editor, the threshold, the preview and the rescoring."""

import pytest
from django.urls import reverse

from leads.models import Lead, RescoreRun, ScoringRule
from portal.models import Membership
from tests.factories import make_activity, make_lead, make_listing, make_membership, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def member_client(client, publisher):
    client.force_login(make_membership(publisher=publisher, role=Membership.Role.MEMBER).user)
    return client


def _form_data(rules, threshold=50, extra=None):
    """The editor's POST for `rules` (dicts with an optional id) and the blank row."""
    rows = [*rules, *(extra or [])]
    data = {
        "rules-TOTAL_FORMS": str(len(rows) + 1),
        "rules-INITIAL_FORMS": str(sum(1 for rule in rows if rule.get("id"))),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "100",
        "threshold-threshold": str(threshold),
    }
    blank = {"is_active": True, "position": 0}  # what the browser posts for the blank row
    for index, rule in enumerate([*rows, blank]):
        for key, value in rule.items():
            if key == "is_active" and not value:
                continue
            data[f"rules-{index}-{key}"] = "on" if value is True else str(value)
    return data


def _row(rule: ScoringRule, **changes) -> dict:
    row = {
        "id": rule.pk,
        "name": rule.name,
        "condition": rule.condition,
        "value": rule.value,
        "listing": rule.listing_id or "",
        "points": rule.points,
        "is_active": rule.is_active,
        "position": rule.position,
    }
    return row | changes


@pytest.fixture
def scored(publisher):
    """A rule worth 30 points for installs, and a lead that installed (score 30)."""
    rule = make_rule(publisher=publisher, name="Installs", value="INS", points=30)
    lead = make_lead(publisher=publisher, first_name="Ada", last_name="Install", score=30)
    make_activity(lead=lead, action_code="INS")
    return rule, lead


def test_the_page_renders_with_the_rules_and_threshold(owner_client, scored):
    # When the owner opens the page
    response = owner_client.get(reverse("scoring"))

    # Then it shows the rule, a blank row, the threshold and the empty progress
    html = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["formset"].forms) == 2
    assert 'value="Installs"' in html
    assert 'name="threshold-threshold" value="50"' in html
    assert 'id="rule-template"' in html
    assert "have not been rescored yet" in html


def test_preview_scores_recent_leads_under_the_edited_rules_and_writes_nothing(
    owner_client, publisher, scored
):
    # Given the rule at 30 points and a threshold of 50
    rule, lead = scored

    # When the owner previews the rule at 60 points, with htmx
    response = owner_client.post(
        reverse("scoring"),
        {**_form_data([_row(rule, points=60)]), "action": "preview"},
        HTTP_HX_REQUEST="true",
    )

    # Then the fragment shows 30 → 60 and that the lead would qualify; nothing is written
    html = response.content.decode()
    (row,) = response.context["preview"]
    assert (row.lead, row.old_score, row.new_score, row.would_qualify) == (lead, 30, 60, True)
    assert html.lstrip().startswith('<section id="preview"')
    assert "30 → 60" in html
    rule.refresh_from_db()
    lead.refresh_from_db()
    assert (rule.points, lead.score, lead.status) == (30, 30, "new")
    assert RescoreRun.objects.count() == 0


def test_preview_without_javascript_renders_the_whole_page(owner_client, scored):
    # When the owner previews with a plain form post and a lower threshold
    rule, _ = scored
    response = owner_client.post(
        reverse("scoring"), {**_form_data([_row(rule)], threshold=20), "action": "preview"}
    )

    # Then the page shows the preview under the edited threshold, and saves nothing
    (row,) = response.context["preview"]
    assert (row.new_score, row.threshold, row.would_qualify) == (30, 20, True)
    assert "<h1>" in response.content.decode()
    assert ScoringRule.objects.get().points == 30


def test_preview_with_an_invalid_rule_shows_the_error_in_place(owner_client, scored):
    # When the owner previews a rule worth 500 points with htmx
    rule, _ = scored
    response = owner_client.post(
        reverse("scoring"),
        {**_form_data([_row(rule, points=500)]), "action": "preview"},
        HTTP_HX_REQUEST="true",
    )

    # Then the editor comes back with the error next to the points
    assert response["HX-Retarget"] == "#scoring-editor"
    assert 'id="id_rules-0-points_error"' in response.content.decode()


def test_saving_writes_rules_and_threshold_and_starts_a_rescoring(
    owner_client, owner, publisher, scored, django_capture_on_commit_callbacks, monkeypatch
):
    # Given the rescoring task, recorded instead of queued
    rule, _ = scored
    queued = []
    monkeypatch.setattr("leads.tasks.rescore_publisher.delay", queued.append)
    listing = make_listing(publisher=publisher, name="Flagship")
    new_row = {
        "name": "Flagship",
        "condition": "listing",
        "value": "",
        "listing": listing.pk,
        "points": 20,
        "is_active": True,
        "position": 5,
    }

    # When the owner edits the rule, adds one and sets the threshold to 40
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("scoring"),
            {
                **_form_data([_row(rule, points=45)], threshold=40, extra=[new_row]),
                "action": "save",
            },
        )

    # Then both rules and the threshold are written, and one rescoring is queued
    publisher.refresh_from_db()
    run = RescoreRun.objects.get()
    assert response["Location"] == reverse("scoring")
    assert list(publisher.scoring_rules.values_list("name", "points", "listing")) == [
        ("Installs", 45, None),
        ("Flagship", 20, listing.pk),
    ]
    assert publisher.qualification_threshold == 40
    assert (run.publisher, run.requested_by, run.status) == (publisher, owner, "queued")
    assert queued == [run.pk]


def test_removing_a_rule(owner_client, publisher, scored, django_capture_on_commit_callbacks):
    # When the owner ticks Remove on the rule and saves
    rule, _ = scored
    with django_capture_on_commit_callbacks():
        owner_client.post(
            reverse("scoring"), {**_form_data([_row(rule, DELETE=True)]), "action": "save"}
        )

    # Then it is gone
    assert ScoringRule.objects.filter(publisher=publisher).count() == 0


def test_nothing_changed_starts_no_rescoring(owner_client, scored):
    # When the owner saves the rules unchanged
    rule, _ = scored
    response = owner_client.post(
        reverse("scoring"), {**_form_data([_row(rule)]), "action": "save"}, follow=True
    )

    # Then no rescoring starts
    assert "Nothing changed." in response.content.decode()
    assert RescoreRun.objects.count() == 0


def test_a_listing_rule_needs_this_publishers_listing(owner_client, other_publisher, scored):
    # Given another publisher's listing
    foreign = make_listing(publisher=other_publisher)
    rule, _ = scored

    # When the owner saves a rule naming it
    response = owner_client.post(
        reverse("scoring"),
        {**_form_data([_row(rule, condition="listing", listing=foreign.pk)]), "action": "save"},
    )

    # Then it is refused next to the listing, and nothing is written
    assert 'id="id_rules-0-listing_error"' in response.content.decode()
    assert ScoringRule.objects.get().condition == "action_code"
    assert RescoreRun.objects.count() == 0


def test_progress_polls_while_running_and_stops_when_done(owner_client, publisher):
    # Given a running rescoring
    run = RescoreRun.objects.create(publisher=publisher, status="running", total=200, processed=50)

    # When the page polls the progress, then again after it finished
    running = owner_client.get(reverse("scoring-progress")).content.decode()
    run.status, run.processed, run.requalified = "done", 200, 7
    run.save()
    done = owner_client.get(reverse("scoring-progress")).content.decode()

    # Then it polls every 2 s while running, and stops when done
    assert 'hx-trigger="every 2s"' in running
    assert "50 of 200 leads (25 %)" in running
    assert "hx-trigger" not in done
    assert "200 of 200 leads (100 %)" in done
    assert "7 newly qualified" in done


# --- Tenancy and roles ---------------------------------------------------------------------


def test_another_publishers_rules_and_leads_stay_out(client, publisher, other_publisher, scored):
    # Given B's owner signed in, and A's rule id
    rule, _ = scored
    client.force_login(make_membership(publisher=other_publisher).user)
    make_lead(publisher=other_publisher, first_name="Bea", last_name="Own")

    # When B opens the page, previews, and posts A's rule id as its own
    page = client.get(reverse("scoring")).content.decode()
    preview = client.post(
        reverse("scoring"), {**_form_data([]), "action": "preview"}, HTTP_HX_REQUEST="true"
    )
    client.post(reverse("scoring"), {**_form_data([_row(rule, points=99)]), "action": "save"})

    # Then none of A's rules or leads shows, and A's rule is untouched
    assert "Installs" not in page
    assert [row.lead.last_name for row in preview.context["preview"]] == ["Own"]
    rule.refresh_from_db()
    assert rule.points == 30


def test_members_see_the_rules_but_cannot_preview_or_save(member_client, scored):
    # When a member opens the page, then previews and saves
    rule, _ = scored
    page = member_client.get(reverse("scoring"))
    answers = [
        member_client.post(reverse("scoring"), {**_form_data([_row(rule)]), "action": action})
        for action in ["preview", "save"]
    ]

    # Then the rules show read-only, and both posts are forbidden
    assert page.status_code == 200
    assert "Installs" in page.content.decode()
    assert 'name="rules-TOTAL_FORMS"' not in page.content.decode()
    assert [answer.status_code for answer in answers] == [403, 403]
    assert Lead.objects.get().score == 30


def test_anonymous_users_are_sent_to_login(client):
    # When an anonymous visitor opens the page or the progress
    for url in [reverse("scoring"), reverse("scoring-progress")]:
        response = client.get(url)

        # Then each goes to the login page
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_another_publishers_rule_id_is_refused_and_nothing_changes(
    owner_client, publisher, other_publisher, scored, django_capture_on_commit_callbacks
):
    # Given a rule of another publisher
    rule, _ = scored
    foreign = make_rule(publisher=other_publisher, name="Theirs", value="INS", points=10)

    # When the owner posts that rule's id, edited, beside their own rule
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(
            reverse("scoring"),
            {
                **_form_data([_row(rule), _row(foreign, name="Hijacked", points=90)]),
                "action": "save",
            },
        )

    # Then the row is refused with a form error, and no rule is created or changed
    body = response.content.decode()
    assert response.status_code == 200
    assert "This rule is not one of this publisher&#x27;s rules." in body
    assert list(ScoringRule.objects.order_by("pk").values_list("publisher", "name", "points")) == [
        (publisher.pk, "Installs", 30),
        (other_publisher.pk, "Theirs", 10),
    ]
    assert RescoreRun.objects.count() == 0
    assert callbacks == []


def test_an_unknown_rule_id_is_refused_in_the_preview_too(owner_client, scored):
    # When the owner previews with a row naming a rule id that does not exist
    rule, _ = scored
    response = owner_client.post(
        reverse("scoring"), {**_form_data([_row(rule, id=10**9)]), "action": "preview"}
    )

    # Then the row is refused and no preview is computed
    body = response.content.decode()
    assert "This rule is not one of this publisher&#x27;s rules." in body
    assert ScoringRule.objects.count() == 1


@pytest.mark.parametrize("role", ["owner", "member"])
def test_action_codes_are_shown_in_words_in_both_languages(client, owner, publisher, role):
    """The page shows words, never raw codes such as INS and PLT."""
    make_rule(publisher=publisher, name="Installed it", condition="action_code", value="INS,PLT")
    make_rule(publisher=publisher, name="On AppSource", condition="storefront", value="appsource")
    user = owner if role == "owner" else make_membership(publisher=publisher).user
    client.force_login(user)

    english = client.get(reverse("scoring")).text
    spanish = client.get(reverse("scoring"), HTTP_ACCEPT_LANGUAGE="es").text

    assert "Install / get it now, Contact me (partner-led trial)</span>" in english
    assert "Instalar / obtener ahora" in spanish
    if role == "owner":  # the editor's help spells every code out
        assert "<code>PLT</code> Contact me (partner-led trial)" in english


def test_rule_value_words_keeps_an_unknown_code_as_it_is():
    from leads.scoring.forms import rule_value_words

    assert rule_value_words(condition="action_code", value="INS, Nope") == (
        "Install / get it now, Nope"
    )
    assert rule_value_words(condition="country_in", value="US,GB") == ""
