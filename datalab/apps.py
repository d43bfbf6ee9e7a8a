"""App configuration of datalab (data sessions and operations; built in its own issue)."""

from django.apps import AppConfig


class DatalabConfig(AppConfig):
    name = "datalab"
    default_auto_field = "django.db.models.BigAutoField"
