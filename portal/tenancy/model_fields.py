"""The fields that every app's models declare alike: the row a row belongs to (its
publisher, its user), the user who acted, a link that outlives what it names, the
creation and update times, and the check that a column holds one of its choices. The
tables are unchanged: each field is the one the models wrote out before."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def parent_key(to, verbose_name, *, related_name: str, **options) -> models.ForeignKey:
    """The row a row belongs to; the row goes when its parent goes."""
    return models.ForeignKey(
        to,
        on_delete=models.CASCADE,
        related_name=related_name,
        verbose_name=verbose_name,
        **options,
    )


def publisher_key(*, related_name: str, **options) -> models.ForeignKey:
    """The publisher that owns a row; the row goes when its publisher goes."""
    return parent_key("portal.Publisher", _("publisher"), related_name=related_name, **options)


def user_key(*, related_name: str) -> models.ForeignKey:
    """The user a row belongs to; the row goes when its user goes."""
    return parent_key(settings.AUTH_USER_MODEL, _("user"), related_name=related_name)


def optional_key(to, verbose_name, *, related_name: str = "+", **options) -> models.ForeignKey:
    """A link a row may lack: it empties when the row it names goes, and the row stays."""
    return models.ForeignKey(
        to,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name=related_name,
        verbose_name=verbose_name,
        **options,
    )


def acting_user_key(verbose_name) -> models.ForeignKey:
    """The user who did something to a row (empty for the system); the row outlives them."""
    return optional_key(settings.AUTH_USER_MODEL, verbose_name)


def choice_is_valid_constraint(
    *, field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    """A CHECK that the column holds one of its choices' values, whoever writes the row."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class CreatedModel(models.Model):
    """A model whose rows record when they were created."""

    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        abstract = True


class TimestampedModel(CreatedModel):
    """A model whose rows record when they were created and last updated."""

    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True
