"""Telescope downtimes, and the append-only record of every change made to them."""

import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

WIRE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CODE_FIELDS = ("site", "enclosure", "telescope", "instrument_type")


def wire_datetime(value: datetime.datetime | None) -> str | None:
    """The wire form of a time: UTC, whole seconds, a literal Z (what the scheduler's strptime expects).

    WIRE_DATETIME_FORMAT with the year always in four digits: the C library's `%Y` writes the year 207 as `207`,
    which neither the scheduler's strptime nor an ISO 8601 reader takes."""
    if value is None:
        return None
    value = value.astimezone(datetime.UTC)
    return f"{value.year:04d}{value.strftime(WIRE_DATETIME_FORMAT.removeprefix('%Y'))}"


class DowntimeQuerySet(models.QuerySet):
    def overlapping(self, start: datetime.datetime | None, end: datetime.datetime | None) -> "DowntimeQuerySet":
        """Downtimes overlapping the half-open window [start, end); either bound may be None (unbounded)."""
        queryset = self
        if start is not None:
            queryset = queryset.filter(end__gt=start)
        if end is not None:
            queryset = queryset.filter(start__lt=end)
        return queryset

    def active_at(self, moment: datetime.datetime) -> "DowntimeQuerySet":
        return self.filter(start__lte=moment, end__gt=moment)

    def not_active_at(self, moment: datetime.datetime) -> "DowntimeQuerySet":
        return self.exclude(start__lte=moment, end__gt=moment)


class Downtime(models.Model):
    """A period when a telescope, or one instrument type on it, must not be scheduled."""

    id = models.BigAutoField(primary_key=True, help_text="Identifier of the downtime")
    start = models.DateTimeField(help_text="Start of the downtime (UTC, whole seconds)")
    end = models.DateTimeField(help_text="End of the downtime (UTC, whole seconds); after the start")
    # configdb limits site codes to 3 characters, enclosure and telescope codes to 200.
    site = models.CharField(max_length=3, help_text="configdb site code, e.g. lco")
    enclosure = models.CharField(max_length=200, help_text="configdb enclosure code, e.g. doma")
    telescope = models.CharField(max_length=200, help_text="configdb telescope code, e.g. 1m0a")
    instrument_type = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="configdb instrument type code, e.g. 1M0-SCICAM-SINISTRO; empty: every instrument on the telescope",
    )
    reason = models.CharField(
        max_length=3000, blank=True, default="", help_text="Why the telescope is down (free text; may be empty)"
    )
    created = models.DateTimeField(auto_now_add=True, help_text="When the downtime was created")
    modified = models.DateTimeField(auto_now=True, help_text="When the downtime last changed")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="downtimes_created",
        help_text="Who created the downtime; empty when unknown (imported rows)",
    )
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="downtimes_modified",
        help_text="Who last changed the downtime; empty when unknown",
    )

    objects = DowntimeQuerySet.as_manager()

    class Meta:
        ordering = ("start", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")),
                name="downtime_end_after_start",
                violation_error_message="End time must be after start time",
            ),
            models.CheckConstraint(
                condition=~Q(site="") & ~Q(enclosure="") & ~Q(telescope=""),
                name="downtime_codes_not_blank",
            ),
        ]
        indexes = [
            # The scheduler's and the portal's look-ups: one resource over time (also narrows `reason_exact`).
            models.Index(fields=["site", "enclosure", "telescope", "start"], name="downtime_resource_start_idx"),
            models.Index(fields=["start"], name="downtime_start_idx"),
            models.Index(fields=["end"], name="downtime_end_idx"),
            # The API's default order (creation order, as the reference).
            models.Index(fields=["created", "id"], name="downtime_created_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.resource} {wire_datetime(self.start)}\u2013{wire_datetime(self.end)}"

    @property
    def resource(self) -> str:
        """`site.enclosure.telescope`, with `/instrument type` when the downtime is for one instrument type."""
        name = f"{self.site}.{self.enclosure}.{self.telescope}"
        return f"{name}/{self.instrument_type}" if self.instrument_type else name


class DowntimeEvent(models.Model):
    """One create, update or delete of a downtime, written in the same transaction; never edited or deleted."""

    class Action(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        DELETED = "deleted"

    class Via(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        COMMAND = "command"

    id = models.BigAutoField(primary_key=True, help_text="Identifier of the event")
    # Not a foreign key: the history of a downtime outlives its deletion.
    downtime_pk = models.BigIntegerField(db_index=True, help_text="Id of the downtime the event is about")
    action = models.CharField(max_length=16, choices=Action.choices, help_text="What happened to the downtime")
    at = models.DateTimeField(db_index=True, help_text="When it happened")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="downtime_events",
        help_text="Who did it; empty when unknown or since deleted",
    )
    username = models.CharField(max_length=150, blank=True, default="", help_text="The user's name at the time")
    via = models.CharField(max_length=16, choices=Via.choices, help_text="Through which door: API, admin or command")
    client_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="The client's address (behind trusted proxies); empty for the command"
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text="Changed fields as {field: [old, new]}, in the API's wire form"
    )
    snapshot = models.JSONField(
        default=dict, blank=True, help_text="The downtime as the API shows it: after a create or update, before delete"
    )

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"downtime {self.downtime_pk} {self.action} by {self.username or 'unknown'} via {self.via}"
