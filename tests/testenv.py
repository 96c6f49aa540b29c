"""The test environment, set before Django reads its settings (`-p tests.testenv`).

The suite runs against real PostgreSQL and Redis (DEVELOPERS.md). Values already in
the environment win, so CI or a developer can point the suite elsewhere.
"""

import os

TEST_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnop",
    # Two fixed Fernet keys: the first encrypts, both decrypt.
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1maWVsZC1rZXktMDAwMDAwMDAwMDAwMDAwMDA=",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/leadportal",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    "REDIS_URL": "redis://127.0.0.1:6379/2",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "SECURE_SSL_REDIRECT": "0",
    "STATIC_MANIFEST": "0",
    "CRM_ALLOW_PRIVATE_TARGETS": "1",
    # The suite tests the demo app too; tests/demo/test_demo_app.py checks it stays out.
    "DEMO_ENABLED": "1",
    "PORTAL_BASE_URL": "https://portal.test",
    "VAR_DIR": os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"),
}

for name, value in TEST_ENV.items():
    os.environ.setdefault(name, value)
