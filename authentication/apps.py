"""App configuration of authentication."""

from django.apps import AppConfig


class AuthenticationConfig(AppConfig):
    name = "authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The login-failure receiver, the OpenAPI descriptions of the authentication classes, and the project's
        # deployment checks: the project package is no app, and they are about the throttles and the portal's state
        # that this app keeps.
        from archive import checks  # noqa: F401
        from authentication import receivers, schema, tasks  # noqa: F401 - tasks: registered for publication by name
