"""Users' archive profiles (proposals, the portal's view of the user) and the audit log of authentication events."""

import logging

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        help_text="The archive user this profile belongs to",
    )
    api_token = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Mirror of the user's observation-portal API token, accepted as `Authorization: Token`; "
        "unique when set",
    )
    proposals = ArrayField(
        models.CharField(max_length=255),
        default=list,
        blank=True,
        help_text="Ids of the proposals whose proprietary frames the user may see",
    )
    staff_view = models.BooleanField(default=False, help_text="Mirrored from the observation portal; informational")
    portal_linked = models.BooleanField(
        default=False,
        help_text="True once the observation portal has vouched for this user (login, bearer or push); such "
        "accounts have no local password",
    )
    proposals_fetched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the proposals were last received from the portal; empty: never"
    )
    portal_rejected_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the portal refused this user's confirmed token and the archive deactivated the account",
    )
    api_token_confirmed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the portal last accepted or returned the current api_token; reset when the token changes",
    )
    created = models.DateTimeField(auto_now_add=True, help_text="When the profile was created")
    modified = models.DateTimeField(auto_now=True, help_text="When the profile last changed")

    class Meta:
        constraints = [
            # Partial: most local accounts have no portal token, and '' must not collide. The index it creates
            # also serves the Token look-up by mirror.
            models.UniqueConstraint(
                fields=["api_token"], condition=~Q(api_token=""), name="profile_api_token_unique_when_set"
            )
        ]

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class AuthEvent(models.Model):
    """One authentication event; append-only, never holds a password or a token."""

    class Kind(models.TextChoices):
        LOGIN = "login"
        TOKEN_ISSUED = "token_issued"
        TOKEN_REVOKED = "token_revoked"
        PUSH = "push"
        PORTAL_REJECTED = "portal_rejected"
        PORTAL_REACTIVATED = "portal_reactivated"

    class Outcome(models.TextChoices):
        OK = "ok"
        BAD_CREDENTIALS = "bad_credentials"
        INACTIVE = "inactive"
        THROTTLED = "throttled"
        PORTAL_UNAVAILABLE = "portal_unavailable"
        FORBIDDEN = "forbidden"
        CONFLICT = "conflict"

    class Method(models.TextChoices):
        API_TOKEN_AUTH = "api_token_auth"
        BROWSABLE = "browsable"
        ADMIN = "admin"
        BEARER = "bearer"
        PUSH = "push"
        TASK = "task"
        BASIC = "basic"

    created = models.DateTimeField(auto_now_add=True, help_text="When the event happened")
    kind = models.CharField(max_length=32, choices=Kind.choices, help_text="What was attempted")
    outcome = models.CharField(max_length=32, choices=Outcome.choices, help_text="How it ended")
    method = models.CharField(max_length=32, choices=Method.choices, help_text="Through which entry point")
    username = models.CharField(max_length=150, blank=True, default="", help_text="The username as given")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="auth_events",
        help_text="The account concerned, when one was identified",
    )
    # Text rather than an inet column: behind trusted proxies the address comes from a header, and a malformed
    # value must be recorded, not turn the audit write into an error.
    address = models.CharField(max_length=64, blank=True, default="", help_text="The client's address")
    user_agent = models.CharField(max_length=200, blank=True, default="", help_text="The client's User-Agent")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["created"], name="authevent_created_idx"),
            models.Index(fields=["username", "created"], name="authevent_username_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.kind} {self.outcome} {self.username}"


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_profile_and_token(sender, instance, created, **kwargs):
    """Every user gets a profile and a local API token, whichever way the user was made."""
    if created:
        from rest_framework.authtoken.models import Token

        Profile.objects.get_or_create(user=instance)
        Token.objects.get_or_create(user=instance)
