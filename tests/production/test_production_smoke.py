"""The production smoke test: the README's "Running in production", as written, works.

One deployment for the module (tests/production/deployment.py): the README's steps with
DEBUG off and production settings, gunicorn, a Celery worker and beat, PostgreSQL, Redis,
SMTP and an HTTPS CRM receiver, all on loopback. Then:
- every page of the URL conf, as an owner, a member and staff, answers without a 5xx, and
  every static file the pages use loads from whitenoise under its hashed name;
- the security headers and cookies are those of production;
- a lead posted to intake with a key from `create_storefront_key` reaches the receiver
  through the worker, signed (verified with the official standardwebhooks library).
"""

import json
import re
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.chaos.harness import RedisServer
from tests.crm.receivers import ca_bundle_path
from tests.crm.receivers.https_receiver import HttpsReceiver
from tests.leads.nurture_support import RecordingHandler, free_port
from tests.production import deployment, page_walk
from tests.production.deployment import ORIGIN, SUPERUSER, Processes, Visitor

pytestmark = pytest.mark.slow

PASSWORD = "Smoke-test passphrase 7261"
MEMBER_EMAIL = "member@smoke.example"
HASHED_RE = re.compile(r"\.[0-9a-f]{12}\.\w+$")


@dataclass
class Deployment:
    port: int
    env: dict
    database_url: str
    processes: Processes
    receiver: HttpsReceiver
    smtp: RecordingHandler
    world: dict
    step_results: dict

    def visitor(self, **options) -> Visitor:
        return Visitor(self.port, **options)

    def sql(self, query: str, *args) -> list[tuple]:
        with psycopg.connect(self.database_url) as connection:
            return connection.execute(query, args).fetchall()


def _manage_step(processes, step, env) -> str:
    argv = list(step.argv)
    if step.kind == "manage createsuperuser":
        argv.append("--no-input")
    result = processes.run(argv, env=env)
    assert result.returncode == 0, f"{step.line}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    from aiosmtpd.controller import Controller

    work = tmp_path_factory.mktemp("production")
    database_url = deployment.smoke_database_url()
    redis = RedisServer(work)
    smtp = RecordingHandler()
    smtp_controller = Controller(smtp, hostname="127.0.0.1", port=free_port())
    # The signing secret is the target's, known after set-up: verified from then on.
    receiver = HttpsReceiver("whsec_" + "A" * 32)
    processes = Processes(work)
    deployment.database_create(database_url)
    try:
        redis.start()
        smtp_controller.start()
        receiver.__enter__()
        env = deployment.production_env(
            database_url=database_url,
            redis_port=redis.port,
            smtp_port=smtp_controller.port,
            var_dir=work / "var",
        )
        env |= {f"DJANGO_SUPERUSER_{k.upper()}": v for k, v in SUPERUSER.items()}
        env["DJANGO_SUPERUSER_PASSWORD"] = PASSWORD
        steps = deployment.readme_steps()
        step_results = {
            step.kind: _manage_step(processes, step, env)
            for step in steps
            if step.kind.startswith("manage ")
        }
        world = _seed(processes, env, receiver)
        port = free_port()
        services = {step.kind: step for step in steps if not step.kind.startswith("manage ")}
        worker_env = env | {
            "CRM_ALLOW_PRIVATE_TARGETS": "1",
            "CRM_EXTRA_CA_BUNDLE": ca_bundle_path(),
        }
        processes.start("web", deployment.gunicorn_argv(services["gunicorn"], port), env=env)
        processes.start("worker", list(services["celery worker"].argv), env=worker_env)
        processes.start("beat", list(services["celery beat"].argv), env=env)
        _wait_for_web(processes, port)
        yield Deployment(port, env, database_url, processes, receiver, smtp, world, step_results)
    finally:
        processes.stop_all()
        receiver.__exit__(None, None, None)
        smtp_controller.stop()
        if redis.process is not None:
            redis.process.terminate()
            redis.process.wait(timeout=10)
        deployment.database_drop(database_url)


def _seed(processes: Processes, env: dict, receiver: HttpsReceiver) -> dict:
    """Demo data, then the smoke test's own rows (tests/production/smoke_setup.py)."""
    seeded = processes.run(
        ["python", "manage.py", "seed_demo", "--leads", "300", "--quiet"],
        # The demo app is asked for in this step only: the web server runs without it.
        env=env | {"DEMO_ENABLED": "1", "DEMO_PASSWORD": PASSWORD},
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    setup = processes.run(
        [
            "python",
            "manage.py",
            "shell",
            "-c",
            "from tests.production import smoke_setup; smoke_setup.main()",
        ],
        env=env | {"SMOKE_RECEIVER_URL": receiver.url("/lead-hook")},
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    world = json.loads(setup.stdout.strip().splitlines()[-1])
    receiver.webhook = Webhook(world["signing_secret"])
    return world


def _wait_for_web(processes: Processes, port: int) -> None:
    def answers() -> bool:
        processes.assert_running()
        try:
            probe = Visitor(port)
            try:
                return probe.get("/healthz").status_code == 200
            finally:
                probe.close()
        except httpx.TransportError:
            return False

    deployment.wait_until(answers, seconds=60, what="gunicorn answering /healthz")


# --- The README's steps ----------------------------------------------------------------------


def test_the_readme_block_has_every_step_of_a_deployment():
    kinds = [step.kind for step in deployment.readme_steps()]

    assert kinds == [
        "manage collectstatic",
        "manage compilemessages",
        "manage check",
        "manage migrate",
        "manage createsuperuser",
        "gunicorn",
        "celery worker",
        "celery beat",
    ]


def test_the_deploy_check_passes_at_warning_level_without_private_targets(deployed):
    # `check --deploy --fail-level WARNING` ran with CRM_ALLOW_PRIVATE_TARGETS off
    assert deployed.env["CRM_ALLOW_PRIVATE_TARGETS"] == "0"
    assert (
        "System check identified no issues (0 silenced)." in deployed.step_results["manage check"]
    )
    assert "static files copied" in deployed.step_results["manage collectstatic"]


# --- Every page, three roles ---------------------------------------------------------------


@pytest.fixture(scope="module")
def walked(deployed):
    """Every page as the owner (in English and in Spanish), a member invited through the
    portal, and staff."""
    urls = sorted({page_walk.fill(route, deployed.world) for route in page_walk.patterns()})
    urls.sort(key=lambda url: "logout" in url)  # never end a session half-way
    owner, member, staff = (deployed.visitor() for _ in range(3))
    owner_in_spanish = deployed.visitor(language="es")
    owner.log_in("owner", PASSWORD)
    owner_in_spanish.log_in("owner", PASSWORD)
    member_username = _invite_member(deployed, owner)
    member.log_in(member_username, PASSWORD)
    staff.log_in(SUPERUSER["username"], PASSWORD)
    results = {}
    visitors = {"owner": owner, "owner-es": owner_in_spanish, "member": member, "staff": staff}
    for role, visitor in visitors.items():
        results[role] = page_walk.walk(visitor, urls)
        visitor.close()
    return urls, results


def _invite_member(deployed, owner: Visitor) -> str:
    """The owner invites a member in the settings page; the member sets a password with
    the link in the invitation, which arrives over SMTP."""
    owner.get("/settings/")
    invited = owner.post_form(
        "/settings/members/", {"email": MEMBER_EMAIL, "role": "member"}, referer_path="/settings/"
    )
    assert invited.status_code == 302, invited.text[:2000]
    mail = deployment.wait_until(
        lambda: [r for r in deployed.smtp.received if r.to == MEMBER_EMAIL],
        seconds=30,
        what="the invitation email",
    )
    body = mail[0].message.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(ORIGIN)}(/accounts/password-reset/\S+/)", body).group(1)
    username = re.search(r"Your username is (.+?)\. The link", body).group(1)
    member = Visitor(deployed.port)
    try:
        form_url = member.get(link).headers["location"]  # the token moves into the session
        assert member.get(form_url).status_code == 200
        chosen = member.post_form(form_url, {"new_password1": PASSWORD, "new_password2": PASSWORD})
        assert chosen.status_code == 302, chosen.text[:2000]
    finally:
        member.close()
    return username


@pytest.mark.parametrize("role", ["owner", "owner-es", "member", "staff"])
def test_every_page_answers_without_a_server_error(walked, role):
    urls, results = walked
    statuses, _static = results[role]

    server_errors = {url: status for url, status in statuses.items() if status >= 500}

    assert server_errors == {}
    assert len(statuses) == len(urls)


def test_the_walk_reaches_the_pages_themselves(deployed, walked):
    # Not a walk of login redirects: each role opens what it may open.
    _urls, results = walked
    owner, member, staff = (results[role][0] for role in ("owner", "member", "staff"))

    for page in ("/", "/leads/", "/campaigns/", "/crm/targets/", "/settings/", "/api/v1/docs"):
        assert owner[page] == 200, page
        assert member[page] == 200, page
    assert owner["/crm/targets/new/"] == 200
    assert member["/crm/targets/new/"] == 403  # owners only
    assert staff["/admin/"] == 200
    assert staff["/admin/leads/lead/"] == 200
    assert owner["/admin/"] == 302  # to the admin login
    # Staff open every admin list, and the change page of every model that has rows.
    admin_objects = deployed.world["admin_objects"]
    assert {model: staff[f"/admin/{model}/"] for model in admin_objects} == dict.fromkeys(
        admin_objects, 200
    )
    with_rows = {model: pk for model, pk in admin_objects.items() if pk is not None}
    assert {model: staff[f"/admin/{model}/{pk}/change/"] for model, pk in with_rows.items()} == (
        dict.fromkeys(with_rows, 200)
    )
    assert len(with_rows) >= 12


def test_every_static_file_of_the_pages_loads_from_whitenoise(deployed, walked):
    _urls, results = walked
    used = set().union(*(static for _statuses, static in results.values()))
    visitor = deployed.visitor()

    answers = {path: visitor.get(path) for path in sorted(used)}

    # only hashed names are ever referenced (the manifest storage at work)
    assert [path for path in used if not HASHED_RE.search(path)] == []
    assert {path: a.status_code for path, a in answers.items() if a.status_code != 200} == {}
    assert all("immutable" in a.headers["cache-control"] for a in answers.values())
    assert any("favicon" in path for path in used)
    assert any("chart-4.6.1.umd.min" in path for path in used)
    assert any("swagger-ui-bundle" in path for path in used)


# --- Headers and HTTPS -----------------------------------------------------------------------


def test_pages_carry_the_production_security_headers_and_cookies(deployed):
    visitor = deployed.visitor()

    login = visitor.get("/accounts/login/")

    headers = login.headers
    assert login.status_code == 200
    # The nonce appears only on pages whose templates use it; it is per response.
    csp = re.sub(r" 'nonce-[^']+'", "", headers["content-security-policy"])
    assert csp == (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    csrf_cookie = _set_cookie(login, "csrftoken")
    assert {"secure", "samesite=lax"} <= csrf_cookie
    logged_in = visitor.post_form("/accounts/login/", {"username": "owner", "password": PASSWORD})
    session_cookie = _set_cookie(logged_in, "sessionid")
    assert {"secure", "httponly", "samesite=lax"} <= session_cookie


def _set_cookie(response, name: str) -> set[str]:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return {part.strip().lower() for part in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie set")


def test_the_portal_speaks_spanish_to_a_spanish_browser(deployed):
    # The catalogue compiled by the README's compilemessages step is in use.
    visitor = deployed.visitor(language="es")

    page = visitor.get("/accounts/login/")

    assert page.status_code == 200
    assert '<html lang="es"' in page.text
    assert "Iniciar sesión" in page.text


def test_plain_http_is_redirected_to_https_except_the_health_check(deployed):
    visitor = deployed.visitor()
    del visitor.client.headers["X-Forwarded-Proto"]

    page = visitor.get("/accounts/login/")
    health = visitor.get("/healthz", headers={"X-Request-ID": "smoke-trace-0001"})
    ready = deployment.wait_until(
        lambda: visitor.get("/readyz").status_code == 200, seconds=60, what="/readyz"
    )

    assert (page.status_code, page.headers["location"]) == (301, f"{ORIGIN}/accounts/login/")
    assert health.status_code == 200
    assert json.loads(health.text)["status"] == "ok"
    assert health.headers["x-request-id"] == "smoke-trace-0001"
    assert ready  # the README's web, worker and beat make every readiness check pass
    assert "leadportal_deliveries_due" in visitor.get("/metrics").text  # from the loopback proxy


# --- A lead from intake to the CRM ---------------------------------------------------------------


def test_a_lead_goes_from_intake_to_the_crm_receiver_through_the_worker(deployed):
    # Given a storefront key made with the README's command
    created = deployed.processes.run(
        [
            "python",
            "manage.py",
            "create_storefront_key",
            "--storefront",
            deployed.world["storefront"],
        ],
        env=deployed.env,
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    lead = {
        "UserDetails": {
            "FirstName": "Grace",
            "LastName": "Hopper",
            "Email": "grace@smoke.example",
            "Phone": "+1 206 555 0100",
            "Country": "US",
            "Company": "Smoke Test Industries",
            "Title": "CTO",
        },
        "LeadSource": "AzureMarketplace-INS|Smoke",
        "ActionCode": "INS",
        "OfferTitle": "Smoke",
        "Description": "Wants a demo",
        "OfferId": deployed.world["offer_id"],
        "LeadId": "smoke-lead-1",
    }
    storefront = deployed.visitor()

    # When the storefront posts it through the web tier
    answer = storefront.client.post(
        "/api/v1/leads", json=lead, headers={"Authorization": f"Bearer {key}"}
    )

    # Then intake stores and qualifies it, and the worker delivers it, signed
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "qualified"
    receiver = deployed.receiver
    effects = deployment.wait_until(
        lambda: [
            body
            for body in list(receiver.effects.values())
            if body["UserDetails"]["Email"] == "grace@smoke.example"
        ],
        seconds=90,
        what="the lead at the CRM receiver",
    )
    assert len(effects) == 1
    assert effects[0]["UserDetails"]["Company"] == "Smoke Test Industries"
    assert receiver.rejections() == []
    assert deployment.wait_until(
        lambda: (
            deployed.sql(
                "SELECT d.status FROM crm_delivery d JOIN leads_lead l ON l.id = d.lead_id "
                "WHERE l.email = %s AND d.target_id = %s",
                "grace@smoke.example",
                deployed.world["target_id"],
            )
            == [("delivered",)]
        ),
        seconds=30,
        what="the delivery row marked delivered",
    )
    # And the publisher API shows it to the publisher's token
    listed = storefront.get(
        "/api/v1/publisher/leads",
        headers={"Authorization": f"Bearer {deployed.world['api_token']}"},
    )
    assert listed.status_code == 200
    assert "grace@smoke.example" in [item["email"] for item in listed.json()["items"]]


def test_partner_centers_test_lead_reaches_the_webhook_and_the_token_is_never_logged(deployed):
    # Given a listing's inbound URL, made with the README's command (it rotates the
    # smoke set-up's URL, whose old token keeps its grace period)
    created = deployed.processes.run(
        ["python", "manage.py", "create_inbound_url", "--offer", deployed.world["offer_id"]],
        env=deployed.env,
    )
    assert created.returncode == 0, created.stderr
    url = created.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{ORIGIN}/api/v1/inbound/partner-center/")
    path, token = url.removeprefix(ORIGIN), url.rstrip("/").rsplit("/", 1)[1]
    partner_center = deployed.visitor()
    test_lead = {
        "userDetails": {
            "FirstName": "MSFT_TEST_636573304831318844",
            "LastName": "MSFT_TEST_636573304831318844",
            "Email": "MSFT_TEST_636573304831318844@test.com",
            "Country": "US",
            "Company": "MSFT_TEST_636573304831318844",
        },
        "LeadSource": "AzureMarketplace",
        "ActionCode": "INS",
        "OfferTitle": "Smoke",
        "Description": "MSFT_TEST_636573304831318844",
    }

    # When Partner Center posts its test lead, with no Authorization header, and a bad
    # body and a wrong token come too (both logged by Django as warnings)
    answer = partner_center.client.post(path, json=test_lead)
    not_json = partner_center.client.post(path, content=b"hello")
    wrong = partner_center.client.post(path.replace(token, token[::-1]), json=test_lead)

    # Then it is stored, marks the URL connected, and the worker makes it a test lead
    assert (answer.status_code, not_json.status_code, wrong.status_code) == (200, 400, 404)
    assert deployment.wait_until(
        lambda: (
            deployed.sql(
                "SELECT i.status, i.is_test, s.connected_at IS NOT NULL FROM inbound_inbounditem i "
                "JOIN inbound_inboundsource s ON s.id = i.source_id WHERE i.body LIKE %s",
                "%MSFT_TEST_636573304831318844@test.com%",
            )
            == [("processed", True, True)]
        ),
        seconds=90,
        what="the test lead processed by the worker",
    )
    # And no log line of the web process holds the token
    web_log = deployed.processes.log("web")
    assert "/inbound/partner-center/…/" in web_log
    assert token not in web_log
    assert token[::-1] not in web_log


def test_the_processes_stayed_up(deployed):
    deployed.processes.assert_running()
    # Django logs every 5xx at ERROR ("Internal Server Error: …"); 4xx are WARNINGs.
    errors = [line for line in deployed.processes.log("web").splitlines() if " ERROR " in line]
    assert errors == []
