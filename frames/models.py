"""Frames, their file versions, headers and thumbnails, and the one definition of who may see a frame."""

import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone


def public_q(now=None) -> Q:
    """Frames that are public now: the one boundary every list, count and aggregate uses (public from the instant
    of `public_date`, exclusive; a frame without one never becomes public)."""
    return Q(public_date__lt=now or timezone.now())


def proprietary_q(now=None) -> Q:
    """The complement of `public_q`, NULL public dates included."""
    return Q(public_date__gte=now or timezone.now()) | Q(public_date__isnull=True)


class FrameQuerySet(models.QuerySet):
    def visible_to(self, user, proposals=None) -> "FrameQuerySet":
        """Frames `user` may see; `proposals` avoids a second look-up when the caller already has them.

        Placeholders (frames known only as another frame's related name) are never visible. The user's proposals are
        the stored ones (`authentication.selectors.user_proposals`): a stale list was refreshed from the portal when
        the request authenticated, so building this queryset never goes to the network.
        """
        from authentication.selectors import user_proposals

        qs = self.filter(observation_date__isnull=False)
        if user is not None and user.is_authenticated and user.is_superuser:
            return qs
        public = public_q()
        if user is None or not user.is_authenticated or not user.is_active:
            return qs.filter(public)
        if proposals is None:
            proposals = user_proposals(user=user)
        if proposals:
            return qs.filter(public | Q(proposal_id__in=proposals))
        return qs.filter(public)

    def with_geojson(self) -> "FrameQuerySet":
        """Footprints as GeoJSON text made by PostGIS: far cheaper than loading each geography into GEOS and
        converting it (through GDAL) in Python, which took a seventh of a list page."""
        from django.contrib.gis.db.models.functions import AsGeoJSON

        return self.defer("area").annotate(area_geojson=AsGeoJSON("area", precision=15))

    def with_versions(self) -> "FrameQuerySet":
        return self.filter(models.Exists(Version.objects.filter(frame_id=models.OuterRef("pk"))))

    def public_filter(self, user, value: bool, proposals=None) -> "FrameQuerySet":
        """The `public` parameter (docs/frames.md, "The public parameter"), applied on top of `visible_to`; the
        proposals are read as `visible_to` reads them, without a portal call."""
        if value:
            return self
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.filter(proprietary_q())
        if proposals is None:
            from authentication.selectors import user_proposals

            proposals = user_proposals(user=user)
        if not proposals:
            return self.none()
        return self.filter(proposal_id__in=proposals)


class Frame(models.Model):
    basename = models.CharField(max_length=1000, help_text="File name up to its first '.'; unique")
    area = models.PolygonField(
        geography=True,
        srid=4326,
        null=True,
        blank=True,
        help_text="Sky footprint; longitude is RA mapped to [-180, 180] (RA > 180 becomes RA - 360)",
    )
    related_frames = models.ManyToManyField(
        "self", blank=True, symmetrical=True, help_text="Calibration and other frames related to this one"
    )
    observation_date = models.DateTimeField(
        null=True, blank=True, help_text="Start of the exposure (UTC); empty only for placeholders"
    )
    observation_day = models.DateField(null=True, blank=True, help_text="The observing night (DAY-OBS)")
    proposal_id = models.CharField(max_length=200, default="", blank=True, help_text="Proposal (PROPID)")
    instrument_id = models.CharField(max_length=64, default="", blank=True, help_text="Instrument code (INSTRUME)")
    target_name = models.CharField(max_length=200, default="", blank=True, help_text="Target name (OBJECT)")
    site_id = models.CharField(max_length=3, default="", blank=True, help_text="Site code (SITEID)")
    telescope_id = models.CharField(max_length=4, default="", blank=True, help_text="Telescope code (TELID)")
    primary_optical_element = models.CharField(
        max_length=100, default="", blank=True, help_text="Filter or primary optical element (FILTER)"
    )
    configuration_type = models.CharField(
        max_length=20, default="", blank=True, help_text="Configuration type (OBSTYPE), e.g. EXPOSE, BIAS"
    )
    reduction_level = models.SmallIntegerField(default=0, help_text="Reduction level (RLEVEL): 0 raw, 91 processed")
    exposure_time = models.FloatField(null=True, blank=True, help_text="Exposure time in seconds (EXPTIME)")
    public_date = models.DateTimeField(
        null=True, blank=True, help_text="When the frame becomes public (L1PUBDAT); empty means never"
    )
    observation_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Observation id (BLKUID)")
    request_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Request id (REQNUM)")
    created = models.DateTimeField(auto_now_add=True, help_text="When the frame was first archived")
    modified = models.DateTimeField(auto_now=True, help_text="When the frame was last changed")

    objects = FrameQuerySet.as_manager()

    # Not columns: a page's versions, related ids and thumbnails, attached by frames.selectors.attach_related (or by
    # the ingest that wrote the frame) for the serializers.
    prefetched_versions: list["VersionRow"]
    prefetched_related_ids: list[int]
    prefetched_thumbnails: "list[Thumbnail]"

    class Meta:
        ordering = ["-observation_date"]
        # Unique constraints rather than unique=True: the latter adds a varchar_pattern_ops twin of each unique
        # index, which no query needs (contains-searches use the trigram indexes) and the planner may prefer.
        constraints = [models.UniqueConstraint(fields=["basename"], name="frame_basename_unique")]
        indexes = [
            models.Index(fields=["observation_date", "id"], name="frame_obsdate_idx"),
            # A proposal's frames in date order; public_date rides along so that counting them (a proposal and a few
            # weeks: an exact count) reads the index alone instead of a heap row per frame.
            models.Index(
                fields=["proposal_id", "observation_date", "id"], include=["public_date"], name="frame_prop_obsdate_idx"
            ),
            models.Index(fields=["public_date"], name="frame_pubdate_idx"),
            models.Index(fields=["target_name"], name="frame_target_idx"),
            models.Index(fields=["observation_id"], name="frame_obsid_idx"),
            models.Index(fields=["request_id"], name="frame_reqid_idx"),
            models.Index(fields=["observation_day"], name="frame_obsday_idx"),
            # Migration 0004 gives both trigram indexes' expressions 1,000 statistics buckets: with the default 100,
            # a rare pattern that hit one bucket was estimated at 1 % of the table and the page walked the date index.
            GinIndex(OpClass(Upper("basename"), name="gin_trgm_ops"), name="frame_basename_trgm_idx"),
            GinIndex(OpClass(Upper("target_name"), name="gin_trgm_ops"), name="frame_target_trgm_idx"),
            models.Index(
                fields=[
                    "observation_date",
                    "public_date",
                    "site_id",
                    "telescope_id",
                    "instrument_id",
                    "configuration_type",
                    "primary_optical_element",
                    "proposal_id",
                ],
                name="frame_aggregate_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.basename


class VersionRow(NamedTuple):
    """What a page needs of a version, read as plain rows: a page of model instances cost a tenth of its time."""

    id: int
    frame_id: int
    key: str
    md5: str
    extension: str
    store_path: str
    size: int | None
    crc32: int | None
    created: datetime.datetime


class Version(models.Model):
    # Indexed by the (frame, -created) index below, which also serves the current-version look-up.
    frame = models.ForeignKey(
        Frame, on_delete=models.CASCADE, db_index=False, help_text="The frame this file belongs to"
    )
    key = models.CharField(max_length=1024, help_text="The file store's version id (S3 VersionId); unique")
    md5 = models.CharField(max_length=32, help_text="MD5 of the file, lower-case hex; unique")
    extension = models.CharField(max_length=20, help_text="File extension, e.g. .fits.fz")
    store_path = models.CharField(max_length=1024, help_text="Object path in the file store, fixed at ingest")
    size = models.BigIntegerField(null=True, blank=True, help_text="Size in bytes, when known")
    crc32 = models.BigIntegerField(
        null=True, blank=True, help_text="CRC-32 of the file, once read (zips of such files can be resumed)"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True, help_text="When this version was archived")

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["md5"], name="version_md5_unique"),
            models.UniqueConstraint(fields=["key"], name="version_key_unique"),
        ]
        indexes = [models.Index(fields=["frame", "-created"], name="version_frame_created_idx")]

    def __str__(self) -> str:
        return f"{self.frame_id}:{self.md5}"


class Headers(models.Model):
    frame = models.OneToOneField(Frame, on_delete=models.CASCADE, help_text="The frame these headers describe")
    data = models.JSONField(default=dict, help_text="The FITS header as ingested, keyword to value")

    class Meta:
        verbose_name_plural = "headers"
        indexes = [models.Index(models.F("data__USERID"), name="headers_userid_idx")]


class Thumbnail(models.Model):
    frame = models.ForeignKey(
        Frame, on_delete=models.CASCADE, related_name="thumbnails", help_text="The frame this image previews"
    )
    size = models.CharField(max_length=20, help_text="Size label, one of THUMBNAIL_SIZE_CHOICES")
    basename = models.CharField(max_length=1000, help_text="Thumbnail file name up to its first '.'; unique")
    extension = models.CharField(max_length=20, help_text="File extension, e.g. .jpg")
    key = models.CharField(max_length=1024, help_text="The file store's version id")
    store_path = models.CharField(max_length=1024, help_text="Object path in the file store, fixed at ingest")
    created = models.DateTimeField(auto_now_add=True, help_text="When the thumbnail was archived")

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["basename"], name="thumbnail_basename_unique")]

    def __str__(self) -> str:
        return self.basename


def thumbnail_size_choices() -> list[tuple[str, str]]:
    return [(size, size) for size in settings.THUMBNAIL_SIZE_CHOICES]


class AggregateSnapshot(models.Model):
    """The last all-frames aggregate, so that a cold cache is refilled from here rather than by a full scan."""

    data = models.JSONField(help_text="Distinct values of sites, telescopes, filters, instruments, types, proposals")
    generated_at = models.DateTimeField(help_text="When the aggregate was computed")

    def __str__(self) -> str:
        return f"Aggregate of {self.generated_at:%Y-%m-%d %H:%M}"


class OutboxMessage(models.Model):
    """A post-ingest notification, written in the ingest's transaction and deleted once the broker confirms it."""

    frame_id = models.BigIntegerField(help_text="The ingested frame (no foreign key: the message outlives deletion)")
    exchange = models.CharField(max_length=200, help_text="The fanout exchange the message goes to")
    message_id = models.CharField(max_length=100, help_text="{frame id}-{md5}: what consumers de-duplicate on")
    payload = models.JSONField(help_text="The message body: the frame's headers and archive fields")
    created = models.DateTimeField(auto_now_add=True, help_text="When the ingest wrote the message")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed publication attempts so far")
    next_attempt_at = models.DateTimeField(db_index=True, help_text="When the message is next due for publication")
    last_error = models.TextField(blank=True, default="", help_text="Why the last attempt failed")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message_id


class FileDeletion(models.Model):
    """A stored object version to delete once the database has forgotten it: files go only after the commit."""

    store_path = models.CharField(max_length=1024, help_text="Object path in the file store")
    version_key = models.CharField(max_length=1024, help_text="The store's version id to delete")
    created = models.DateTimeField(auto_now_add=True, help_text="When the deletion was committed")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed deletion attempts so far")
    next_attempt_at = models.DateTimeField(db_index=True, help_text="When the deletion is next due")
    last_error = models.TextField(blank=True, default="", help_text="Why the last attempt failed")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.store_path}@{self.version_key}"
