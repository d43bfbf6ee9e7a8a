"""App configuration of downtimes (telescope downtimes; built in its own issue)."""

from django.apps import AppConfig


class DowntimesConfig(AppConfig):
    name = "downtimes"
    default_auto_field = "django.db.models.BigAutoField"
