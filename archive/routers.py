"""Database routing: reads to the `reader` replica when configured, everything else to the writer."""

from typing import Any

from django.conf import settings
from django.db import models

READER = "reader"
WRITER = "default"


class ReaderRouter:
    """Code that must read its own writes (ingest responses, the ingester's md5 check) asks for the writer with
    `.using("default")`; everything else reads from the replica when DB_HOST_READER configures one."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str:
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db  # related objects follow the instance they were reached from
        return READER if READER in settings.DATABASES else WRITER

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return WRITER

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        return True  # the replica holds the same rows as the writer

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == WRITER
