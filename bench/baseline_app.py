"""The intake benchmark's baseline: a bare Django view that inserts one row.

    gunicorn --chdir bench baseline_app:application      (bench/intake.py starts it)

Its settings live in this file (settings.configure): no middleware, no apps, one URL.
The view reads the JSON body and INSERTs it into `bench_baseline(id bigserial, payload
jsonb)`, which bench/intake.py creates. The database comes from BENCH_DATABASE_URL and
uses psycopg's pool with the same sizes as portal/settings.py, so that the two servers
differ by what intake does, not by how they reach PostgreSQL.
"""

import json
import os

import django
import environ
from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST

_database = environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"])
_database["OPTIONS"] = {"pool": {"min_size": 2, "max_size": 10, "timeout": 10}}

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-baseline-secret-key-not-for-production-0123456789",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={"default": _database},
    USE_TZ=True,
)


@require_POST
def insert_one(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Malformed JSON body."}, status=400)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (payload) VALUES (%s::jsonb) RETURNING id",
            [json.dumps(payload)],
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=201)


urlpatterns = [path("api/v1/leads", insert_one)]

django.setup()
application = get_wsgi_application()
