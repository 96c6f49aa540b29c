"""What the retention task keeps of each run: when, what it chose, what it erased.

A run is planned at its start (one row per publisher with retention on, its cutoff fixed
then) and worked batch by batch; each batch's erasure and its counts commit together, so
the figures are exact even when a worker dies between two batches. No personal data: the
rows hold counts, cutoffs and the class of an error, never a lead's field.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.tenancy.model_fields import choice_is_valid_constraint, publisher_key


class RetentionRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")


class RetentionRun(models.Model):
    """One run of the retention task over every publisher with retention on."""

    Status = RetentionRunStatus

    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RetentionRunStatus, default=RetentionRunStatus.RUNNING
    )
    publishers = models.PositiveIntegerField(_("publishers"), default=0)
    leads_erased = models.PositiveIntegerField(_("leads erased"), default=0)
    batches = models.PositiveIntegerField(_("batches"), default=0)
    errors = models.PositiveIntegerField(_("errors"), default=0)
    # A worker holds the run until then, and extends it after every batch; a run whose
    # lease has passed lost its worker, and the next task takes it over (`resumes`).
    lease_until = models.DateTimeField(_("held until"), null=True, blank=True)
    resumes = models.PositiveSmallIntegerField(_("resumed after a crash"), default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        constraints = [
            choice_is_valid_constraint(
                field="status", choices=RetentionRunStatus, name="retentionrun_status_valid"
            ),
            # At most one run at a time: a second start fails on this, not on a check.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="retentionrun_one_running"
            ),
        ]

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"


class RetentionRunPublisher(models.Model):
    """One publisher's part of a run: its setting and cutoff then, and what was erased."""

    run = models.ForeignKey(
        RetentionRun, on_delete=models.CASCADE, related_name="parts", verbose_name=_("run")
    )
    publisher = publisher_key(related_name="retention_runs")
    months = models.PositiveSmallIntegerField(_("retention (months)"))
    cutoff = models.DateTimeField(
        _("cutoff"), help_text=_("Leads last active before this time were erased.")
    )
    leads_erased = models.PositiveIntegerField(_("leads erased"), default=0)
    batches = models.PositiveIntegerField(_("batches"), default=0)
    # The class of the exception that stopped this publisher's part (never its message,
    # which might quote a lead's data); the next run tries again.
    error = models.CharField(_("error"), max_length=100, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["run", "publisher_id"]
        verbose_name = _("publisher in a retention run")
        verbose_name_plural = _("publishers in a retention run")
        constraints = [
            models.UniqueConstraint(fields=["run", "publisher"], name="retentionpart_unique")
        ]
        indexes = [
            models.Index(fields=["publisher", "-run"], name="retentionpart_pub_run"),
        ]

    def __str__(self):
        return f"{self.publisher_id}: {self.leads_erased}"
