"""Settings of the retention run (privacy.retention, docs/operations.md, "Retention")."""

from django.core.exceptions import ImproperlyConfigured


def retention_settings(env) -> tuple[int, int, int, int]:
    """The daily run's hour (TIME_ZONE), leads per batch (one transaction each), a run's
    lease between batches, and one task's time before it queues the next stretch."""
    hour = env.int("RETENTION_HOUR", default=3)
    if not 0 <= hour <= 23:
        raise ImproperlyConfigured("RETENTION_HOUR must be an hour from 0 to 23.")
    return (
        hour,
        env.int("RETENTION_BATCH_SIZE", default=500),
        env.int("RETENTION_LEASE_SECONDS", default=300),
        env.int("RETENTION_TASK_BUDGET_SECONDS", default=180),
    )
