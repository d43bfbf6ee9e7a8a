"""`python manage.py deleteframes`: delete frames and their files by age or observation day, with filters."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from archive.progress import Progress
from frames.deletion import frames_delete_in_batches
from frames.models import Frame


class Command(BaseCommand):
    help = (
        "Delete frames, their versions, headers, thumbnails and stored files. Select them with --days-old N, or "
        "with --start and --end (exclusive bounds on the observing day), then narrow with the filters."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days-old", type=int, help="Frames observed at least this many days ago.")
        parser.add_argument("--start", help="Observing day after which frames go (ISO date, exclusive).")
        parser.add_argument("--end", help="Observing day before which frames go (ISO date, exclusive).")
        parser.add_argument("--reduction-level", type=int)
        parser.add_argument("--request-id", type=int)
        parser.add_argument("--observation-id", type=int)
        parser.add_argument("--site", help="Site code (case-insensitive).")
        parser.add_argument("--telescope", help="Telescope code (case-insensitive).")
        for what in ("types", "proposals", "instruments"):
            parser.add_argument(f"--include-{what}", default="", help=f"Comma list of {what} to delete only.")
            parser.add_argument(f"--exclude-{what}", default="", help=f"Comma list of {what} to keep.")
        parser.add_argument("--dry-run", action="store_true", help="Count and show ten basenames; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Frames per transaction.")

    def handle(self, *args, **options):
        frames = self.selection(options)
        if options["dry_run"]:
            count = frames.count()
            self.stdout.write(f"Would delete {count} frames.")
            for basename in frames.order_by("id").values_list("basename", flat=True)[:10]:
                self.stdout.write(f"  {basename}")
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        # The count is what the progress measures against; frames deleted meanwhile by others just end it early.
        progress = Progress(
            self.stdout,
            label="deleteframes",
            total=frames.count(),
            unit="frame",
            enabled=options["verbosity"] >= 1,
        )
        with progress:
            totals = frames_delete_in_batches(
                frames=frames,
                batch_size=options["batch_size"],
                progress=lambda t: progress.advance_to(t["frames"], detail=f"{t['files']} files queued for deletion"),
            )
        self.stdout.write(f"Deleted {totals['frames']} frames and queued {totals['files']} files for deletion.")

    @staticmethod
    def _day(value: str, name: str) -> datetime.date:
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--{name} must be an ISO date (YYYY-MM-DD), not {value!r}.") from None

    def selection(self, options):
        by_age = options["days_old"] is not None
        by_range = options["start"] is not None or options["end"] is not None
        if by_age == by_range:
            raise CommandError("Give either --days-old, or --start and --end.")
        frames = Frame.objects.using("default").filter(observation_date__isnull=False)
        if by_age:
            if options["days_old"] < 0:
                raise CommandError("--days-old must not be negative.")
            frames = frames.filter(observation_date__lte=timezone.now() - datetime.timedelta(days=options["days_old"]))
        else:
            if options["start"] is None or options["end"] is None:
                raise CommandError("--start and --end go together.")
            start, end = self._day(options["start"], "start"), self._day(options["end"], "end")
            if end <= start:
                raise CommandError("--end must be after --start.")
            frames = frames.filter(observation_day__gt=start, observation_day__lt=end)
        exact = {
            "reduction_level": options["reduction_level"],
            "request_id": options["request_id"],
            "observation_id": options["observation_id"],
        }
        frames = frames.filter(**{name: value for name, value in exact.items() if value is not None})
        if options["site"]:
            frames = frames.filter(site_id__iexact=options["site"])
        if options["telescope"]:
            frames = frames.filter(telescope_id__iexact=options["telescope"])
        for what, field in (
            ("types", "configuration_type"),
            ("proposals", "proposal_id"),
            ("instruments", "instrument_id"),
        ):
            include = [v for v in options[f"include_{what}"].split(",") if v.strip()]
            exclude = [v for v in options[f"exclude_{what}"].split(",") if v.strip()]
            if include:
                frames = frames.filter(**{f"{field}__in": [v.strip() for v in include]})
            if exclude:
                frames = frames.exclude(**{f"{field}__in": [v.strip() for v in exclude]})
        return frames
