"""/healthz (liveness: no dependency) and /readyz (the database, Redis, the broker, beat's
heartbeat, the outbox's backlog): docs/operations.md, "Health and readiness"."""

import json
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from portal import beat
from tests.factories import make_delivery, make_target


@pytest.fixture
def beat_alive():
    """A heartbeat as the beat holding the lock writes it."""
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.set(beat.HEARTBEAT_KEY, str(time.time() - 5))
    yield client
    client.delete(beat.HEARTBEAT_KEY)
    client.close()


def test_healthz_is_alive_even_with_the_broker_and_database_settings_broken(client, settings):
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_ok_with_every_dependency_up(client, db, beat_alive):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["reasons"]) == ("ok", [])
    assert body["database"]["ok"] is True
    assert body["redis"] == {"ok": True, "configured": True}
    assert body["broker"] == {"ok": True, "url_scheme": "redis"}
    assert body["beat"]["ok"] is True
    assert 4 <= body["beat"]["last_seconds_ago"] <= 60
    assert body["outbox"] == {"oldest_due_seconds": None, "ok": True}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_503_names_the_broker_and_never_shows_its_password(client, db, settings, beat_alive):
    settings.CELERY_BROKER_URL = "redis://:s3cret-password@127.0.0.1:1/0"

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["reasons"]) == ("degraded", ["broker"])
    assert body["broker"] == {"ok": False, "url_scheme": "redis", "error": "ConnectionError"}
    assert b"s3cret-password" not in response.content


def test_readyz_503_when_redis_is_down(client, db, settings, beat_alive):
    settings.REDIS_URL = "redis://127.0.0.1:1/2"

    response = client.get("/readyz")

    assert response.status_code == 503
    # Beat's heartbeat lives in that Redis too: it cannot be read either.
    assert response.json()["reasons"] == ["redis", "beat"]


def test_readyz_503_without_a_heartbeat_from_beat(client, db):
    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["beat"]
    assert body["beat"] == {"ok": False, "last_seconds_ago": None, "error": "no heartbeat"}


def test_readyz_503_when_beat_last_ticked_too_long_ago(client, db, settings, beat_alive):
    beat_alive.set(beat.HEARTBEAT_KEY, str(time.time() - 400))
    settings.READY_BEAT_MAX_AGE_SECONDS = 180

    body = client.get("/readyz").json()

    assert body["reasons"] == ["beat"]
    assert 399 <= body["beat"]["last_seconds_ago"] <= 460


def test_readyz_503_when_the_outbox_backlog_is_older_than_the_threshold(
    client, db, settings, beat_alive
):
    settings.READY_OUTBOX_MAX_AGE_SECONDS = 600
    make_delivery(next_attempt_at=timezone.now() - timedelta(minutes=20))
    paused = make_target(publisher=None, is_active=False)
    make_delivery(target=paused, next_attempt_at=timezone.now() - timedelta(days=3))  # waits

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["reasons"] == ["outbox"]
    assert body["outbox"]["ok"] is False
    assert 1199 <= body["outbox"]["oldest_due_seconds"] <= 1300


def test_readyz_filesystem_broker_and_heartbeat_file(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    (tmp_path / "beat-heartbeat").touch()

    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["broker"] == {"ok": True, "url_scheme": "filesystem"}
    assert body["redis"] == {"ok": True, "configured": False}


def test_readyz_filesystem_broker_missing_folder(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "broker" in response.json()["reasons"]
    json.loads(response.content)


def test_readyz_takes_a_bounded_number_of_queries(
    client, db, beat_alive, django_assert_max_num_queries
):
    make_delivery(next_attempt_at=timezone.now())
    with django_assert_max_num_queries(3):
        client.get("/readyz")
