"""App configuration of downtimes: telescope downtimes for the scheduler and the observation portal."""

from django.apps import AppConfig


class DowntimesConfig(AppConfig):
    name = "downtimes"
    verbose_name = "Downtimes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from downtimes import checks  # noqa: F401  (registers the system checks)
