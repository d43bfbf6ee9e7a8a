"""App configuration of datalab: data sessions, operations run by Celery workers, and image analysis."""

from django.apps import AppConfig
from django.conf import settings


class DatalabConfig(AppConfig):
    name = "datalab"
    verbose_name = "Datalab"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from datalab import tasks  # noqa: F401 - registers the task (below)
        from datalab.operations.base import register_operations

        # Once, at start-up: every request reads the frozen registry.
        register_operations(extra_modules=tuple(settings.DATALAB_EXTRA_OPERATION_MODULES))
        # The task is published by name (services never import the worker's modules); importing its module above
        # registers the name in every process, so that eager execution, where configured, applies to it too.
