"""The staff's view of frames: search, filters, read-only versions and headers, and deletion with the files."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.cache import cache
from django.db.models import Count, Q
from django.template.response import TemplateResponse

from archive.admin import LargeTableAdminMixin, ReadOnlyAdminMixin
from frames import deletion
from frames.aggregates import AGGREGATE_CACHE_KEY
from frames.models import AggregateSnapshot, FileDeletion, Frame, Headers, OutboxMessage, Thumbnail, Version

# A contains-search shorter than this cannot use the trigram index (it needs whole trigrams): such terms match
# basenames exactly only.
TRIGRAM_MIN_CHARS = 3


def aggregate_lists(request) -> dict:
    """The all-frames aggregate's lists of distinct values (sites, instruments, ...), for the filters' choices: from
    the cache or the snapshot row, once per request, never computed here (that scans every frame). Empty before the
    first aggregate was built; the filters then offer the value in the URL only."""
    if not hasattr(request, "_frames_aggregate"):
        data = cache.get(AGGREGATE_CACHE_KEY)
        if data is None:
            snapshot = AggregateSnapshot.objects.order_by("-generated_at").first()
            data = snapshot.data if snapshot else {}
            if snapshot:
                cache.set(AGGREGATE_CACHE_KEY, data, None)  # as the aggregate's own read does
        request._frames_aggregate = data
    return request._frames_aggregate


class AggregateValueFilter(admin.SimpleListFilter):
    """A choice among the aggregate's values of a column: no `SELECT DISTINCT` over the frames per page."""

    aggregate = ""

    def lookups(self, request, model_admin):
        values = list(aggregate_lists(request).get(self.aggregate, []))
        current = self.value()
        if current and current not in values:
            values.append(current)
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


class SiteFilter(AggregateValueFilter):
    title = "site"
    parameter_name = "site_id"
    aggregate = "sites"


class InstrumentFilter(AggregateValueFilter):
    title = "instrument"
    parameter_name = "instrument_id"
    aggregate = "instruments"


class ConfigurationTypeFilter(AggregateValueFilter):
    title = "configuration type"
    parameter_name = "configuration_type"
    aggregate = "obstypes"


class ReductionLevelFilter(admin.SimpleListFilter):
    """Raw (level 0) or processed (any other level), as the file paths say; `?reduction_level=91` picks one level."""

    title = "reduction level"
    parameter_name = "reduction_level"

    def lookups(self, request, model_admin):
        choices = [("raw", "raw (0)"), ("processed", "processed (other levels)")]
        current = self.value()
        if _level(current) is not None:
            choices.append((current, current))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == "raw":
            return queryset.filter(reduction_level=0)
        if value == "processed":
            return queryset.exclude(reduction_level=0)
        if _level(value) is not None:
            return queryset.filter(reduction_level=_level(value))
        if value:
            return queryset.none()
        return queryset


def _level(value: str | None) -> int | None:
    """A reduction level given in the URL, if it is one (a smallint)."""
    return int(value) if value and value.isdigit() and int(value) < 2**15 else None


class TextInputFilter(admin.SimpleListFilter):
    """A text box rather than a list of links, for columns with too many values to list (proposals)."""

    template = "admin/frames/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self):
        return True

    def choices(self, changelist):
        # One "choice": what the template needs for its form (the other active parameters ride along hidden).
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "hidden": sorted(
                (name, value) for name, value in changelist.get_filters_params().items() if name != self.parameter_name
            ),
            "search": changelist.query,
            "reset_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


class ProposalFilter(TextInputFilter):
    title = "proposal"
    parameter_name = "proposal_id"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if value:
            return queryset.filter(proposal_id=value)  # exact: the (proposal, date) index
        return queryset


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


class FrameChangeList(ChangeList):
    """The list reads no footprints: a page's geographies would each be parsed into GEOS for nothing."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer("area")


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
class FrameAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Built for a million frames: every query of the list is served by an index and bounded (a page in
    `observation_date, id` order, a capped count, filter choices from the aggregate, no date hierarchy, which reads
    the distinct years of every frame), and a page costs the same number of queries whatever it holds."""

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
        SiteFilter,
        InstrumentFilter,
        ("observation_date", admin.DateFieldListFilter),
        ProposalFilter,
        ConfigurationTypeFilter,
        ReductionLevelFilter,
        ("public_date", admin.DateFieldListFilter),
    )
    # Searched by get_search_results below (the unique and trigram indexes); naming the field shows the search box.
    search_fields = ("basename",)
    search_help_text = "A whole basename, or at least three characters of one (matched anywhere, case-insensitively)."
    # The (observation_date, id) index read backwards; sorting is offered only on indexed columns.
    ordering = ("-observation_date", "-id")
    sortable_by = ("basename", "observation_date", "public_date")
    list_select_related = False  # a frame's list columns are its own: nothing to join, no query per row
    readonly_fields = ("area", "created", "modified")
    exclude = ("related_frames",)
    inlines = (VersionInline, HeadersInline, ThumbnailInline)
    actions = (delete_frames_and_files,)
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return FrameChangeList

    def get_search_results(self, request, queryset, search_term):
        """An existing basename finds its frame through the unique index; other text of at least three characters
        is matched anywhere in the basename, case-insensitively: `UPPER(basename) LIKE UPPER('%text%')`, which the
        trigram index on `UPPER(basename)` serves. Shorter text can only match a whole basename."""
        term = search_term.strip()
        if not term:
            return queryset, False
        exact = queryset.filter(basename=term)
        if len(term) < TRIGRAM_MIN_CHARS or exact.exists():
            return exact, False
        return queryset.filter(basename__icontains=term), False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would leave the stored files behind
        return actions

    def delete_model(self, request, obj):
        deletion.frames_delete(frames=Frame.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        deletion.frames_delete(frames=queryset)


class ThumbnailSizeFilter(admin.SimpleListFilter):
    """The configured sizes, rather than the distinct sizes of every thumbnail."""

    title = "size"
    parameter_name = "size"

    def lookups(self, request, model_admin):
        return [(size, size) for size in settings.THUMBNAIL_SIZE_CHOICES]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(size=self.value())
        return queryset


@admin.register(Thumbnail)
class ThumbnailAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """As many thumbnails as frames, or more: the frames admin's rules (bounded count, pk order, one query for the
    page with its frames)."""

    list_display = ("basename", "size", "frame", "created")
    list_filter = (ThumbnailSizeFilter,)
    search_fields = ("basename",)
    search_help_text = "A whole thumbnail basename, or a frame's basename (its thumbnails)."
    ordering = ("-id",)
    sortable_by = ("basename",)
    list_select_related = ("frame",)
    raw_id_fields = ("frame",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("frame__area")

    def get_search_results(self, request, queryset, search_term):
        """Exact basenames only (thumbnails have no trigram index): the thumbnail's own, through its unique index,
        or its frame's, through the frames' unique index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        frame_ids = list(Frame.objects.filter(basename=term).order_by().values_list("id", flat=True))
        return queryset.filter(Q(basename=term) | Q(frame_id__in=frame_ids)), False

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


@admin.register(AggregateSnapshot)
class AggregateSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The last all-frames aggregate (one row), as `aggregates_rebuild` wrote it; the filters above take their
    choices from it. Read-only: the periodic rebuild replaces it."""

    list_display = ("generated_at", "__str__")
    readonly_fields = ("generated_at", "data")
