"""`python manage.py load_sample_data [--if-empty]`: archive a small synthetic sample (frames/sample.py) through the
server-side ingest, with thumbnails and master calibrations, so that a fresh archive has something to show."""

import datetime
import hashlib
import io
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from rest_framework.exceptions import APIException

from archive.filestore import get_filestore
from frames import fitsingest, sample, services
from frames.columns import FRAME_FIELDS
from frames.models import Frame, Headers, Thumbnail
from frames.paths import store_path
from frames.serializers import ThumbnailIngestSerializer

THUMBNAIL_EXTENSION = ".jpg"


def _json(value):
    return value.isoformat() if isinstance(value, datetime.date | datetime.datetime) else value


def thumbnail_body(frame: Frame, *, size: str, version: dict) -> dict:
    """The body the ingester posts for a thumbnail of `frame`: the frame's fields and headers, the JPEG's version."""
    headers = Headers.objects.filter(frame=frame).values_list("data", flat=True).first() or {}
    body = {field.name: _json(getattr(frame, field.name)) for field in FRAME_FIELDS}
    return body | {
        "basename": f"{frame.basename}-{size}",
        "frame_basename": frame.basename,
        "size": size,
        "headers": headers,
        "version_set": [version],
        "area": None,
        "related_frame_filenames": [],
    }


def ingest_thumbnail(frame: Frame, *, size: str, jpeg: bytes) -> None:
    """Store the JPEG where the ingester would, then archive it through the thumbnail ingest, as `POST /thumbnails/`
    does; the stored file is removed again if the body is refused."""
    basename = f"{frame.basename}-{size}"
    path = store_path(
        basename=basename,
        extension=THUMBNAIL_EXTENSION,
        site_id=frame.site_id,
        instrument_id=frame.instrument_id,
        observation_day=frame.observation_day,
        reduction_level=frame.reduction_level,
        configuration_type=frame.configuration_type,
    )
    md5 = hashlib.md5(jpeg).hexdigest()
    store = get_filestore()
    key = store.put(
        path,
        io.BytesIO(jpeg),
        md5=md5,
        size=len(jpeg),
        content_type="image/jpeg",
        content_disposition=f"attachment; filename={basename}{THUMBNAIL_EXTENSION}",
    )
    version = {"key": key, "md5": md5, "extension": THUMBNAIL_EXTENSION}
    serializer = ThumbnailIngestSerializer(data=thumbnail_body(frame, size=size, version=version))
    if not serializer.is_valid():
        store.delete(path, key)
        raise CommandError(f"The thumbnail {basename} was refused: {serializer.errors}")
    services.thumbnail_ingest(data=serializer.validated_data)


class Command(BaseCommand):
    help = (
        "Archive a small synthetic sample through the server-side ingest: science frames of three targets from three "
        "sites in three filters over three nights with their master calibrations and thumbnails, one proposal "
        "proprietary for a year. Files already archived (by md5) are skipped, so re-running adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the archive has any frame (first start)."
        )
        parser.add_argument(
            "--blocks",
            type=int,
            default=len(sample.BLOCKS),
            metavar="N",
            help=f"Only the first N of the {len(sample.BLOCKS)} observation blocks (a smaller sample).",
        )

    def handle(self, *args, if_empty: bool, blocks: int, **options):
        if not 1 <= blocks <= len(sample.BLOCKS):
            raise CommandError(f"--blocks must be between 1 and {len(sample.BLOCKS)}.")
        if if_empty and Frame.objects.using(fitsingest.WRITER).exists():
            if options["verbosity"] >= 1:
                self.stdout.write("The archive has frames already; no sample loaded.")
            return
        began = time.monotonic()
        proprietary_until = (timezone.now() + datetime.timedelta(days=365)).replace(microsecond=0)
        counts = {"science": 0, "calibration": 0, "skipped": 0, "thumbnails": 0}
        proposals: set[str] = set()
        for file in sample.sample_files(proprietary_until=proprietary_until, blocks=blocks):
            try:
                result = fitsingest.fits_ingest(
                    fileobj=io.BytesIO(file.data), filename=file.filename, metadata=file.metadata
                )
            except fitsingest.FileAlreadyArchived:
                counts["skipped"] += 1
            except APIException as exc:
                raise CommandError(f"{file.filename} was refused: {exc.detail}") from exc
            else:
                counts["science" if file.science else "calibration"] += 1
                if file.science:
                    proposals.add(result.body["proposal_id"])
            frame = Frame.objects.using(fitsingest.WRITER).get(basename=file.basename)
            present = set(
                Thumbnail.objects.using(fitsingest.WRITER).filter(frame=frame).values_list("basename", flat=True)
            )
            missing = [size for size in sample.THUMBNAIL_SIZES if f"{frame.basename}-{size}" not in present]
            if missing:
                jpegs = sample.thumbnail_jpegs(file.image)
                for size in missing:
                    ingest_thumbnail(frame, size=size, jpeg=jpegs[size])
                    counts["thumbnails"] += 1
        seconds = time.monotonic() - began
        summary = (
            f"Sample loaded in {seconds:.1f} s: {counts['science']} science frames of {len(proposals)} proposals, "
            f"{counts['calibration']} calibrations, {counts['thumbnails']} thumbnails archived; "
            f"{counts['skipped']} files were archived already."
        )
        if sample.PROPRIETARY_PROPOSAL in proposals:
            summary += f" {sample.PROPRIETARY_PROPOSAL} is proprietary until {proprietary_until:%Y-%m-%d}."
        self.stdout.write(summary)
