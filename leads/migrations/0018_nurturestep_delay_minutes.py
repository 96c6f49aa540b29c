"""A step's delay in minutes instead of hours: every existing delay is kept (hours × 60)."""

import django.core.validators
from django.db import migrations, models
from django.db.models import F


def hours_to_minutes(apps, schema_editor):
    NurtureStep = apps.get_model("leads", "NurtureStep")
    NurtureStep.objects.update(delay_minutes=F("delay_hours") * 60)


def minutes_to_hours(apps, schema_editor):
    """Back to whole hours, rounded up, so that no step is sent earlier than planned."""
    NurtureStep = apps.get_model("leads", "NurtureStep")
    NurtureStep.objects.update(delay_hours=(F("delay_minutes") + 59) / 60)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0017_sending_identity"),
    ]

    operations = [
        migrations.AddField(
            model_name="nurturestep",
            name="delay_minutes",
            field=models.PositiveIntegerField(default=0, verbose_name="delay (minutes)"),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="nurturestep",
            name="delay_hours",
            field=models.PositiveIntegerField(default=0, verbose_name="delay (hours)"),
        ),
        migrations.RunPython(hours_to_minutes, minutes_to_hours, elidable=False),
        migrations.RemoveField(model_name="nurturestep", name="delay_hours"),
        migrations.AlterField(
            model_name="nurturestep",
            name="delay_minutes",
            field=models.PositiveIntegerField(
                help_text="After enrolment for the first step, after the previous step otherwise.",
                validators=[django.core.validators.MaxValueValidator(525600)],
                verbose_name="delay (minutes)",
            ),
        ),
    ]
