"""`python manage.py record_checksums`: read every archived file without a recorded CRC-32 once (size, CRC-32, and a
check against its md5), so that zips of them can be resumed. For an archive that predates the column; new files are
measured by the periodic task."""

import time

from django.core.management.base import BaseCommand

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
        seen: set[int] = set()
        while len(seen) < total:
            versions = [v for v in checksums.unmeasured_versions(batch + len(seen)) if v.id not in seen]
            versions = versions[: min(batch, total - len(seen))]
            if not versions:
                break
            seen.update(version.id for version in versions)
            checksums.versions_measure(versions, result)
            rate = len(seen) / max(time.monotonic() - started, 1e-6)
            self.stdout.write(
                f"{len(seen)}/{total} files read ({rate:.1f}/s): {result.measured} recorded, "
                f"{result.mismatched} not matching their md5, {result.unreadable} unreadable"
            )
        self.stdout.write(
            f"Done in {time.monotonic() - started:.1f} s: {result.measured} recorded, {result.mismatched} not matching "
            f"their md5, {result.unreadable} unreadable."
        )
