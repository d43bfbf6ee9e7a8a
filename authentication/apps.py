"""App configuration of authentication."""

from django.apps import AppConfig


class AuthenticationConfig(AppConfig):
    name = "authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Registers the login-failure receiver and the OpenAPI descriptions of the authentication classes.
        from authentication import receivers, schema  # noqa: F401
