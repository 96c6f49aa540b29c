"""The Celery app. Workers: `celery -A portal worker`; the one beat: `celery -A portal beat`."""

import os

from celery import Celery, signals

from portal import leases, observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A graceful shutdown (SIGTERM) gives back claims and drain slots at once
# (portal/leases.py, docs/delivery.md#shutdown).
signals.worker_init.connect(leases.worker_init, weak=False)
signals.worker_shutting_down.connect(leases.worker_shutting_down, weak=False)
signals.worker_process_init.connect(leases.worker_process_init, weak=False)
signals.task_prerun.connect(leases.task_prerun, weak=False)

# The request id travels from the request that queued a task into the task's log lines.
signals.before_task_publish.connect(observability.before_task_publish, weak=False)
signals.task_prerun.connect(observability.task_prerun, weak=False)
signals.task_postrun.connect(observability.task_postrun, weak=False)
signals.worker_init.connect(observability.worker_metrics_serve, weak=False)
signals.setup_logging.connect(observability.celery_logging_setup, weak=False)
