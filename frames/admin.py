"""The staff's view of frames: search, filters, read-only versions and headers, and deletion with the files."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.template.response import TemplateResponse

from frames import deletion
from frames.models import FileDeletion, Frame, Headers, OutboxMessage, Thumbnail, Version


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class VersionInline(ReadOnlyInline):
    model = Version
    fields = ("created", "extension", "md5", "key", "store_path", "size")
    readonly_fields = fields


class HeadersInline(ReadOnlyInline):
    model = Headers
    fields = ("data",)
    readonly_fields = fields


class ThumbnailInline(ReadOnlyInline):
    model = Thumbnail
    fields = ("size", "basename", "extension", "key", "store_path")
    readonly_fields = fields


@admin.action(description="Delete selected frames and their files", permissions=["delete"])
def delete_frames_and_files(modeladmin, request, queryset):
    """Deletion through frames_delete, so stored files go too (after the commit), with a confirmation page."""
    if request.POST.get("post") == "yes":
        result = deletion.frames_delete(frames=queryset)
        modeladmin.message_user(
            request,
            f"Deleted {result['frames']} frames; {result['files']} stored files are being deleted.",
            messages.SUCCESS,
        )
        return None
    counts = queryset.aggregate(frames=Count("id", distinct=True), versions=Count("version", distinct=True))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Delete frames and their files?",
        "queryset": queryset,
        "counts": counts,
        "basenames": list(queryset.values_list("basename", flat=True)[:20]),
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": queryset.values_list("pk", flat=True),
    }
    return TemplateResponse(request, "admin/frames/delete_frames_confirmation.html", context)


@admin.register(Frame)
class FrameAdmin(admin.ModelAdmin):
    list_display = (
        "basename",
        "observation_date",
        "site_id",
        "telescope_id",
        "instrument_id",
        "proposal_id",
        "configuration_type",
        "reduction_level",
        "public_date",
    )
    list_filter = (
        "site_id",
        "instrument_id",
        "configuration_type",
        "reduction_level",
        "observation_date",
        "public_date",
        "proposal_id",
    )
    search_fields = ("=basename", "basename")
    date_hierarchy = "observation_date"
    readonly_fields = ("area", "created", "modified")
    exclude = ("related_frames",)
    inlines = (VersionInline, HeadersInline, ThumbnailInline)
    actions = (delete_frames_and_files,)
    show_full_result_count = False  # the archive holds millions of frames: never count them all for a page
    list_per_page = 50

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the stored files behind
        return actions

    def delete_model(self, request, obj):
        deletion.frames_delete(frames=Frame.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        deletion.frames_delete(frames=queryset)


@admin.register(Thumbnail)
class ThumbnailAdmin(admin.ModelAdmin):
    list_display = ("basename", "size", "frame", "created")
    list_filter = ("size",)
    search_fields = ("=basename", "basename", "frame__basename")
    raw_id_fields = ("frame",)
    show_full_result_count = False

    def delete_model(self, request, obj):
        deletion.thumbnail_delete(thumbnail=obj)

    def delete_queryset(self, request, queryset):
        for thumbnail in queryset:
            deletion.thumbnail_delete(thumbnail=thumbnail)


class PendingWorkAdmin(admin.ModelAdmin):
    """Rows of work the archive still owes (a notification, a file deletion): staff may look at them and move
    `next_attempt_at`, never delete them. Deleting one would lose the work silently: a frame's notification never
    sent, or a deleted frame's file left in the store for good. Only the services write them: a row added by hand
    would publish a made-up message or delete a file that still belongs to a frame."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(PendingWorkAdmin):
    """Notifications still waiting for the broker (normally none)."""

    list_display = ("message_id", "exchange", "created", "attempts", "next_attempt_at", "last_error")
    readonly_fields = ("frame_id", "exchange", "message_id", "payload", "created", "attempts", "last_error")


@admin.register(FileDeletion)
class FileDeletionAdmin(PendingWorkAdmin):
    """Stored files whose deletion has not succeeded yet (normally none)."""

    list_display = ("store_path", "version_key", "created", "attempts", "next_attempt_at", "last_error")
    readonly_fields = ("store_path", "version_key", "created", "attempts", "last_error")
