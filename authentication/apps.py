"""App configuration of authentication."""

from django.apps import AppConfig


class AuthenticationConfig(AppConfig):
    name = "authentication"
    default_auto_field = "django.db.models.BigAutoField"
