"""`python manage.py record_checksums`: read every archived file without a recorded CRC-32 once (size, CRC-32, and a
check against its md5), so that zips of them can be resumed. For an archive that predates the column; new files are
measured by the periodic task."""

import time

from django.core.management.base import BaseCommand

from archive.progress import Progress
from frames import checksums
from frames.models import Version


class Command(BaseCommand):
    help = "Record the size and CRC-32 of every archived file that has none (reads each file once)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500, help="files read per round (default 500)")
        parser.add_argument("--limit", type=int, default=0, help="stop after this many files (default: all)")

    def handle(self, *args, batch: int, limit: int, **options):
        total = Version.objects.filter(crc32__isnull=True).count()
        if limit:
            total = min(total, limit)
        result = checksums.SweepResult()
        started = time.monotonic()
        read = 0
        below_id = None  # a walk down the ids: files that could not be measured are not asked for again
        progress = Progress(
            self.stdout, label="record_checksums", total=total, unit="file", enabled=options["verbosity"] >= 1
        )
        with progress:
            while read < total:
                versions = checksums.unmeasured_versions(min(batch, total - read), below_id=below_id)
                if not versions:
                    break
                below_id = versions[-1].id
                read += len(versions)
                checksums.versions_measure(versions, result)
                progress.advance_to(read, detail=_counts(result))
        self.stdout.write(f"Done in {time.monotonic() - started:.1f} s: {_counts(result)}.")


def _counts(result: checksums.SweepResult) -> str:
    return f"{result.measured} recorded, {result.mismatched} not matching their md5, {result.unreadable} unreadable"
