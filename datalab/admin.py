"""Admin of data sessions, operations and runs: status filters, and "run again" for failed runs."""

from django.contrib import admin, messages

from datalab import services
from datalab.models import DataOperation, DataSession, OperationRun, RunStatus


class OperationInline(admin.TabularInline):
    model = DataOperation
    fields = ["id", "name", "run", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(DataSession)
class DataSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "modified", "accessed"]
    search_fields = ["name", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created"]
    inlines = [OperationInline]


@admin.register(DataOperation)
class DataOperationAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "session", "status", "created"]
    list_filter = ["name", "run__status"]
    search_fields = ["session__name", "session__user__username", "run__key"]
    list_select_related = ["session", "run"]
    raw_id_fields = ["session", "run"]
    readonly_fields = ["created"]

    @admin.display(ordering="run__status")
    def status(self, operation):
        return operation.run.status


@admin.register(OperationRun)
class OperationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "progress", "attempt", "created", "finished_at"]
    list_filter = ["status", "name"]
    search_fields = ["key", "task_id", "worker"]
    readonly_fields = [
        field.name for field in OperationRun._meta.get_fields() if field.concrete and not field.many_to_many
    ]
    actions = ["run_again"]

    @admin.action(description="Run the selected failed runs again")
    def run_again(self, request, queryset):
        again = 0
        skipped = queryset.exclude(status=RunStatus.FAILED).count()
        for run in queryset.filter(status=RunStatus.FAILED):
            services.run_restart(run=run)
            again += 1
        self.message_user(
            request,
            f"{again} run(s) queued again; {skipped} not failed, left as they were.",
            messages.SUCCESS if again else messages.WARNING,
        )
