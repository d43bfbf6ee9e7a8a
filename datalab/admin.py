"""Admin of data sessions, operations and runs: status filters, and "run again" for failed runs; and the local
catalogue, read-only (it is loaded by `manage.py load_catalog`)."""

from django.contrib import admin, messages
from django.db.models import Exists, OuterRef

from archive.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from archive.exceptions import ServiceUnavailable
from datalab import services
from datalab.models import CatalogStar, DataOperation, DataSession, OperationRun, RunStatus

RUNNING = (RunStatus.PENDING, RunStatus.IN_PROGRESS)


def restart_failed_runs(modeladmin, request, runs) -> None:
    """Run the failed ones of `runs` again through `services.run_restart` (reset to a fresh first attempt, then
    published); the others are left as they are, and pending or running ones are refused with a message."""
    runs = list(runs)
    failed = [run for run in runs if run.status == RunStatus.FAILED]
    busy = sum(1 for run in runs if run.status in RUNNING)
    again = 0
    for run in failed:
        try:
            services.run_restart(run=run)
        except ServiceUnavailable:
            # run_restart committed the reset before publishing: housekeeping publishes the run once the queue is
            # back. The rest stay FAILED rather than wait on a queue that is down.
            modeladmin.message_user(
                request,
                f"The task queue is unavailable: run {run.pk} is pending and will be published when it is back; "
                f"{len(failed) - again - 1} other failed run(s) were left failed.",
                messages.ERROR,
            )
            return
        again += 1
    modeladmin.message_user(
        request,
        f"{again} run(s) queued again; {len(runs) - again} not failed, left as they were.",
        messages.SUCCESS if again else messages.WARNING,
    )
    if busy:
        modeladmin.message_user(
            request,
            f"Refused for {busy} run(s) still pending or in progress: only a failed run can be run again.",
            messages.WARNING,
        )


class RunStatusFilter(admin.SimpleListFilter):
    """Sessions with at least one operation whose run is in the chosen state."""

    title = "status of an operation"
    parameter_name = "operation_status"

    def lookups(self, request, model_admin):
        return RunStatus.choices

    def queryset(self, request, queryset):
        if self.value() in RunStatus.values:
            operations = DataOperation.objects.filter(session=OuterRef("pk"), run__status=self.value())
            return queryset.filter(Exists(operations))
        return queryset


class OperationInline(admin.TabularInline):
    model = DataOperation
    fields = ["id", "name", "run", "status", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("run")

    @admin.display(description="status")
    def status(self, operation):
        return operation.run.status

    def has_add_permission(self, request, obj=None):
        return False  # operations are submitted through the API, which creates or shares their runs


@admin.register(DataSession)
class DataSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "user", "modified", "accessed"]
    list_filter = [RunStatusFilter]
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
    actions = ["run_again"]

    @admin.display(ordering="run__status")
    def status(self, operation):
        return operation.run.status

    def has_add_permission(self, request):
        return False  # submitted through the API, which dedupes them onto shared runs

    @admin.action(description="Run the failed runs of the selected operations again", permissions=["change"])
    def run_again(self, request, queryset):
        runs = OperationRun.objects.filter(pk__in=queryset.values("run_id"))
        restart_failed_runs(self, request, runs)


@admin.register(OperationRun)
class OperationRunAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "progress", "attempt", "created", "finished_at"]
    list_filter = ["status", "name"]
    search_fields = ["key", "task_id", "worker"]
    readonly_fields = [
        field.name for field in OperationRun._meta.get_fields() if field.concrete and not field.many_to_many
    ]
    actions = ["run_again"]

    def has_add_permission(self, request):
        return False  # runs are made by submissions, keyed by what they compute

    @admin.action(description="Run the selected failed runs again", permissions=["change"])
    def run_again(self, request, queryset):
        restart_failed_runs(self, request, queryset)


@admin.register(CatalogStar)
class CatalogStarAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Up to millions of rows: a capped count, the unique source_id as the search (exact) and the ordering."""

    list_display = ("source_id", "ra", "dec", "phot_g_mean_mag", "bp_rp", "parallax")
    search_fields = ("=source_id",)
    ordering = ("source_id",)
    exclude = ("position",)
