"""Writes of the tenancy: publisher settings and memberships (invite, role, remove).

Tenancy is the bottom layer (tenancy ← leads ← crm ← shell), so nothing here
imports leads or crm. Member changes lock the publisher row first: two owners demoting
each other at the same moment cannot leave the publisher without an owner.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from portal.tenancy.models import (
    RETENTION_MONTHS_MAX,
    RETENTION_MONTHS_MIN,
    Membership,
    Publisher,
)

logger = logging.getLogger(__name__)


class LastOwnerError(ValidationError):
    """The change would leave the publisher without an owner."""


@transaction.atomic
def publisher_settings_update(
    *, publisher: Publisher, lead_contact_email: str, postal_address: str
) -> Publisher:
    """Change where alerts go and the postal address printed in nurture emails."""
    publisher.lead_contact_email = lead_contact_email.strip()
    publisher.postal_address = postal_address.strip()
    publisher.save(update_fields=["lead_contact_email", "postal_address"])
    logger.info("portal.publisher.settings_updated", extra={"publisher_id": publisher.pk})
    return publisher


@transaction.atomic
def publisher_retention_set(*, publisher: Publisher, months: int | None, by) -> Publisher:
    """Turn retention off (None) or erase leads `months` (1–120) after their last activity."""
    if months is not None and not RETENTION_MONTHS_MIN <= months <= RETENTION_MONTHS_MAX:
        raise ValidationError(
            {"retention_months": _("Retention is from 1 to 120 months.")}, code="out_of_range"
        )
    publisher.retention_months = months
    publisher.save(update_fields=["retention_months"])
    logger.info(
        "portal.publisher.retention_set",
        extra={"publisher_id": publisher.pk, "months": months, "user_id": by.pk if by else None},
    )
    return publisher


def _lock(publisher: Publisher) -> None:
    Publisher.objects.select_for_update().only("pk").get(pk=publisher.pk)


def _owner_count(publisher: Publisher) -> int:
    return Membership.objects.filter(publisher=publisher, role=Membership.Role.OWNER).count()


def _user_for_email(email: str):
    """The user with this email (or username), else a new one who has no password yet."""
    User = get_user_model()
    user = (
        User.objects.filter(email__iexact=email).order_by("pk").first()
        or User.objects.filter(username__iexact=email).order_by("pk").first()
    )
    if user is not None:
        return user, False
    # No password: an unusable one, until the invitation link sets it.
    return User.objects.create_user(username=email, email=email, password=None), True


def set_password_url(user) -> str:
    """A link to choose a password, built on Django's password-reset tokens."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.PORTAL_BASE_URL}{path}"


@transaction.atomic
def member_invite(
    *, publisher: Publisher, email: str, role: str, invited_by
) -> tuple[Membership, bool]:
    """Add a member by email, creating the user when unknown; email them after commit.

    Returns the membership and whether the email carries a link to choose a password
    (a new user, or one invited before who never chose one); others get a notice.
    """
    email = email.strip().lower()
    _lock(publisher)
    user, created = _user_for_email(email)
    if Membership.objects.filter(publisher=publisher, user=user).exists():
        raise ValidationError(
            _("%(email)s is already a member of %(publisher)s.")
            % {"email": email, "publisher": publisher.name},
            code="already_member",
        )
    membership = Membership.objects.create(publisher=publisher, user=user, role=role)
    needs_password = not user.has_usable_password()
    context = {
        "publisher": publisher,
        "invited_by": invited_by,
        "role": membership.get_role_display(),
        "username": user.get_username(),
        "login_url": f"{settings.PORTAL_BASE_URL}{reverse('login')}",
        "set_password_url": set_password_url(user) if needs_password else "",
    }
    subject = _("You have been added to %(publisher)s on Lead Portal") % {
        "publisher": publisher.name
    }
    body = render_to_string("emails/invitation.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [email]))
    logger.info(
        "portal.member.invited",
        extra={"publisher_id": publisher.pk, "user_id": user.pk, "new_user": created},
    )
    return membership, needs_password


def _membership_for_update(publisher: Publisher, membership_id: int) -> Membership:
    """The publisher's membership, locked; Membership.DoesNotExist for any other id."""
    return (
        Membership.objects.select_for_update()
        .select_related("user")
        .get(publisher=publisher, pk=membership_id)
    )


@transaction.atomic
def membership_role_change(*, publisher: Publisher, membership_id: int, role: str) -> Membership:
    """Make a member an owner or an owner a member, never demoting the last owner."""
    _lock(publisher)
    membership = _membership_for_update(publisher, membership_id)
    if membership.is_owner and role != Membership.Role.OWNER and _owner_count(publisher) == 1:
        raise LastOwnerError(
            _("%(user)s is the last owner. Make someone else an owner first.")
            % {"user": membership.user.email or membership.user.get_username()},
            code="last_owner",
        )
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
        logger.info(
            "portal.member.role_changed",
            extra={"publisher_id": publisher.pk, "membership_id": membership.pk, "role": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, publisher: Publisher, membership_id: int) -> Membership:
    """Take a user out of the publisher, never the last owner. The user account stays."""
    _lock(publisher)
    membership = _membership_for_update(publisher, membership_id)
    if membership.is_owner and _owner_count(publisher) == 1:
        raise LastOwnerError(
            _("%(user)s is the last owner and cannot be removed. Make someone else an owner first.")
            % {"user": membership.user.email or membership.user.get_username()},
            code="last_owner",
        )
    membership.delete()
    logger.info(
        "portal.member.removed",
        extra={"publisher_id": publisher.pk, "membership_id": membership_id},
    )
    return membership
