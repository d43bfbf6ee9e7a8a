"""Users' archive profiles: the proposals that decide which proprietary frames they see."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        help_text="The archive user this profile belongs to",
    )
    proposals = ArrayField(
        models.CharField(max_length=255),
        default=list,
        blank=True,
        help_text="Ids of the proposals whose proprietary frames the user may see",
    )
    staff_view = models.BooleanField(default=False, help_text="Mirrored from the observation portal; informational")
    created = models.DateTimeField(auto_now_add=True, help_text="When the profile was created")
    modified = models.DateTimeField(auto_now=True, help_text="When the profile last changed")

    def __str__(self) -> str:
        return f"Profile of {self.user}"


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def create_profile_and_token(sender, instance, created, **kwargs):
    """Every user gets a profile and a local API token, whichever way the user was made."""
    if created:
        from rest_framework.authtoken.models import Token

        Profile.objects.get_or_create(user=instance)
        Token.objects.get_or_create(user=instance)
