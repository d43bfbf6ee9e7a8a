"""Admin pieces the apps share."""

from django.db import models
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For records kept as they were written (audit events, tokens): listed and viewed in the admin, never added,
    changed or deleted there."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
