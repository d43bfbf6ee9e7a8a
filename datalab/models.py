"""Data sessions, the operations users ask for in them, and the shared runs that compute them."""

from django.conf import settings
from django.contrib.gis.db import models as gis_models
from django.db import models
from django.db.models import Q


class DataSession(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="datasessions",
        help_text="The owner; every query is scoped to this user",
    )
    name = models.CharField(max_length=256, help_text="A name the user chose (not unique)")
    input_data = models.JSONField(default=list, blank=True, help_text="The session's input items, in stored form")
    created = models.DateTimeField(auto_now_add=True, help_text="When the session was created")
    modified = models.DateTimeField(help_text="When the session or its list of operations last changed")
    accessed = models.DateTimeField(help_text="When the session was last opened (updated at most once a minute)")

    class Meta:
        ordering = ["-modified", "-id"]
        indexes = [models.Index(fields=["user", "-modified"], name="datasession_user_modified_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.user_id})"


class RunStatus(models.TextChoices):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class OperationRun(models.Model):
    """One computation, shared by every operation that asks for exactly the same thing (the same dedupe key)."""

    key = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the operation, version and inputs")
    name = models.CharField(max_length=128, help_text="The operation's name")
    version = models.PositiveIntegerField(help_text="The operation's code version")
    inputs = models.JSONField(help_text="Canonical resolved inputs the worker reads")
    parents = models.ManyToManyField(
        "self", symmetrical=False, related_name="children", blank=True, help_text="Runs whose products are inputs"
    )
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True, help_text="Run state"
    )
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1, monotonic within an attempt")
    message = models.TextField(blank=True, default="", help_text="Phase while running; the reason when FAILED")
    output = models.JSONField(null=True, blank=True, help_text="Manifest: storage keys of files, or inline data")
    signed_urls = models.JSONField(null=True, blank=True, help_text="Signed URLs per storage key (a memo)")
    urls_valid_until = models.DateTimeField(null=True, blank=True, help_text="When the memo's first URL expires")
    error_detail = models.TextField(blank=True, default="", help_text="Traceback of an unexpected failure (admin)")
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Fencing token: writes of older attempts lose")
    task_id = models.CharField(max_length=64, blank=True, default="", help_text="The last Celery task id")
    worker = models.CharField(max_length=200, blank=True, default="", help_text="host:pid of the claiming worker")
    created = models.DateTimeField(auto_now_add=True, help_text="When the run was first asked for")
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When it was last handed to the queue")
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the current attempt started")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The running worker's last sign of life")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When it completed or failed")
    cancel_requested = models.BooleanField(default=False, help_text="Its last operation was deleted while it ran")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="operationrun_status_beat_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="operationrun_progress_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.key[:12]} {self.status}"


class DataOperation(models.Model):
    """A user's request, in one session, to run one operation on given inputs; its state is its run's."""

    session = models.ForeignKey(
        DataSession, on_delete=models.CASCADE, related_name="operations", help_text="The session it belongs to"
    )
    name = models.CharField(max_length=128, help_text="A registered operation name")
    input_data = models.JSONField(default=dict, blank=True, help_text="The normalised inputs, echoed to the client")
    run = models.ForeignKey(
        OperationRun, on_delete=models.PROTECT, related_name="operations", help_text="The shared computation"
    )
    created = models.DateTimeField(auto_now_add=True, help_text="When the user asked for it")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class CatalogStar(models.Model):
    """One star of the local reference catalogue (a Gaia DR3 extract loaded by `load_catalog`), for operations that
    need astrometry, parallaxes and photometry of a field without a network."""

    # The catalogue's measurements besides the position: what an extract may carry, null where Gaia has none.
    MEASUREMENTS = (
        "phot_g_mean_mag",
        "phot_bp_mean_mag",
        "phot_rp_mean_mag",
        "bp_rp",
        "parallax",
        "parallax_error",
    )

    source_id = models.BigIntegerField(unique=True, help_text="Gaia DR3 source_id")
    ra = models.FloatField(help_text="Right ascension (degrees, ICRS, as loaded)")
    dec = models.FloatField(help_text="Declination (degrees, ICRS)")
    position = gis_models.PointField(
        geography=True,
        srid=4326,
        help_text="The position for cone searches (GiST index); longitude is RA mapped to [-180, 180]",
    )
    phot_g_mean_mag = models.FloatField(null=True, blank=True, help_text="Gaia G magnitude")
    phot_bp_mean_mag = models.FloatField(null=True, blank=True, help_text="Gaia BP magnitude")
    phot_rp_mean_mag = models.FloatField(null=True, blank=True, help_text="Gaia RP magnitude")
    bp_rp = models.FloatField(null=True, blank=True, help_text="BP - RP colour")
    parallax = models.FloatField(null=True, blank=True, help_text="Parallax (mas)")
    parallax_error = models.FloatField(null=True, blank=True, help_text="Parallax standard error (mas)")

    def __str__(self) -> str:
        return f"Gaia DR3 {self.source_id}"
