"""`python manage.py expireguideframes`: delete old guide-camera frames, keeping GUIDE_CAMERAS_TO_PERSIST."""

from django.core.management.base import BaseCommand

from frames.deletion import frames_delete_in_batches, guide_frames_expired


class Command(BaseCommand):
    help = "Delete GUIDE frames observed at least --days ago whose camera is not in GUIDE_CAMERAS_TO_PERSIST."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--site", help="Only this site (case-insensitive).")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, days: int, site: str | None, dry_run: bool, **options):
        frames = guide_frames_expired(days=days, site=site)
        if dry_run:
            self.stdout.write(f"Would delete {frames.count()} guide frames.")
            return
        totals = frames_delete_in_batches(frames=frames)
        self.stdout.write(f"Deleted {totals['frames']} guide frames and queued {totals['files']} files.")
