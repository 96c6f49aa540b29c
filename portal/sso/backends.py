"""The OpenID Connect backend: mozilla-django-oidc's code flow, with this project's rules.

- The ID token is checked by PyJWT against the provider's keys (JWKS), for its signature,
  its expiry, its issuer and its audience (the library alone skips the audience).
- The claims come from that verified ID token, not from an unsigned userinfo answer.
- The email must be verified (`email_verified`, or Entra ID's `xms_edov`) and within
  OIDC_ALLOWED_DOMAINS.
- A user is matched by (issuer, subject) once known, else by verified email; only a user
  with a membership, or staff, may sign in. No user is ever created, except a staff user
  whom the OIDC_STAFF_GROUP claim names; staff status comes from that claim or an admin.
"""

import logging

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from portal.sso.discovery import DiscoveryError, oidc_setting, sso_enabled
from portal.sso.models import SsoIdentity
from portal.tenancy.models import Membership

logger = logging.getLogger(__name__)


class SignInRefused(SuspiciousOperation):
    """Why a sign-in is refused; `reason` picks the page's message (views.REASONS)."""

    def __init__(self, reason: str):
        super().__init__(f"sign-in refused: {reason}")
        self.reason = reason


def _is_true(value) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def email_is_verified(claims: dict) -> bool:
    """`email_verified` (OpenID Connect), or `xms_edov` (Entra ID's optional claim: the
    email's domain is verified by the user's tenant)."""
    return _is_true(claims.get("email_verified")) or _is_true(claims.get("xms_edov"))


def domain_allowed(email: str) -> bool:
    allowed = settings.OIDC_ALLOWED_DOMAINS
    domain = email.rpartition("@")[2].lower()
    return "*" in allowed or domain in allowed


def in_staff_group(claims: dict) -> bool:
    group = settings.OIDC_STAFF_GROUP
    groups = claims.get("groups") or []
    if isinstance(groups, str):
        groups = [groups]
    return bool(group) and group in groups


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, reading its endpoints from discovery."""

    def __init__(self, *args, **kwargs):
        # Cheap: Django builds every backend for each sign-in and each session's user, so
        # nothing here may call the provider (the library's own __init__ reads endpoints).
        self.UserModel = get_user_model()

    get_settings = staticmethod(oidc_setting)

    @property
    def OIDC_RP_CLIENT_ID(self):
        return settings.OIDC_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self):
        return settings.OIDC_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self):
        return settings.OIDC_RP_SIGN_ALGO

    @property
    def OIDC_RP_IDP_SIGN_KEY(self):
        return None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):
        return oidc_setting("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):
        return oidc_setting("OIDC_OP_JWKS_ENDPOINT")

    def authenticate(self, request, **kwargs):
        # Only the callback view passes a nonce: password sign-ins never reach the provider.
        if request is None or "nonce" not in kwargs or not sso_enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except SignInRefused as refused:
            request.sso_refusal = refused.reason
        except requests.HTTPError as error:
            # The provider answered but refused the code (used, expired, another client).
            status = error.response.status_code if error.response is not None else None
            logger.warning("sso.token_request_refused", extra={"status": status})
            request.sso_refusal = "token"
        except (DiscoveryError, OSError) as error:
            logger.warning("sso.provider_unavailable", extra={"error": type(error).__name__})
            request.sso_refusal = "provider"
        return None

    def _verify_jws(self, payload, key):
        """The signature, expiry, issuer and audience of the ID token, by PyJWT."""
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
        except jwt.InvalidTokenError as error:
            logger.warning("sso.token_rejected", extra={"error": type(error).__name__})
            raise SignInRefused("token") from error

    def verify_token(self, token, **kwargs):
        if not token:
            raise SignInRefused("token")
        try:
            return super().verify_token(token, **kwargs)
        except SignInRefused:
            raise
        except (SuspiciousOperation, jwt.PyJWTError) as error:
            logger.warning("sso.token_rejected", extra={"error": type(error).__name__})
            raise SignInRefused("token") from error

    def get_userinfo(self, access_token, id_token, payload):
        """The claims of the verified ID token (Entra ID puts groups only there)."""
        return payload

    def describe_user_by_claims(self, claims):
        return "the subject of the ID token"  # never the email, which is personal data

    def verify_claims(self, claims):
        email = (claims.get("email") or "").strip()
        if not email:
            raise SignInRefused("no_email")
        if not email_is_verified(claims):
            raise SignInRefused("unverified")
        if not domain_allowed(email):
            raise SignInRefused("domain")
        return True

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        try:
            self.verify_claims(claims)
            user, refusal = self._resolve(claims)
        except SignInRefused as refused:
            refusal = refused.reason
        if refusal:
            # Set here too: the library turns the exception into a bare None.
            self.request.sso_refusal = refusal
            logger.info("sso.refused", extra={"reason": refusal})
            raise SignInRefused(refusal)
        return user

    @transaction.atomic
    def _resolve(self, claims) -> tuple:
        """(user, None), or (None, reason); staff changes are written either way."""
        issuer, subject = settings.OIDC_ISSUER, str(claims["sub"])
        email = claims["email"].strip().lower()
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is not None:
            user = identity.user
        else:
            users = list(self.UserModel.objects.filter(email__iexact=email)[:2])
            if len(users) > 1:
                return None, "ambiguous"
            user = users[0] if users else None
            if user is not None and SsoIdentity.objects.filter(user=user, issuer=issuer).exists():
                # This account is bound to another subject of the same provider.
                return None, "ambiguous"
        staff_by_group = in_staff_group(claims)
        if user is None:
            if not staff_by_group:
                return None, "no_access"
            if self.UserModel.objects.filter(username__iexact=email).exists():
                return None, "ambiguous"  # that username is someone else's account
            user = self.UserModel.objects.create_user(username=email, email=email, password=None)
        granted_before = identity is not None and identity.staff_by_group
        if staff_by_group and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        elif not staff_by_group and granted_before and user.is_staff:
            # The group made this user staff and no longer names them: staff no more.
            user.is_staff = False
            user.save(update_fields=["is_staff"])
        if identity is None:
            identity = SsoIdentity.objects.create(
                user=user, issuer=issuer, subject=subject, staff_by_group=staff_by_group
            )
        elif identity.staff_by_group != staff_by_group:
            identity.staff_by_group = staff_by_group
            identity.save(update_fields=["staff_by_group"])
        if not user.is_active:
            return None, "no_access"
        if not user.is_staff and not Membership.objects.filter(user=user).exists():
            return None, "no_access"
        logger.info(
            "sso.signed_in",
            extra={"user_id": user.pk, "staff": user.is_staff, "staff_by_group": staff_by_group},
        )
        return user, None
