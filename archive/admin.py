"""Admin pieces the apps share."""


class ReadOnlyAdminMixin:
    """For records kept as they were written (audit events, tokens): listed and viewed in the admin, never added,
    changed or deleted there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
