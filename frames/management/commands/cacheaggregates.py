"""`python manage.py cacheaggregates`: rebuild the all-frames aggregate into the cache and its snapshot."""

import time

from django.core.management.base import BaseCommand

from archive.progress import Progress
from frames.aggregates import AGGREGATE_BUILD_STEPS, AGGREGATE_KEYS, aggregates_rebuild


class Command(BaseCommand):
    help = "Rebuild the all-frames aggregate (sites, telescopes, filters, instruments, types, proposals)."

    def handle(self, *args, **options):
        started = time.monotonic()
        # The rebuild is two queries over the frames and a write: its progress is counted in those steps.
        progress = Progress(
            self.stdout,
            label="cacheaggregates",
            total=len(AGGREGATE_BUILD_STEPS),
            unit="step",
            enabled=options["verbosity"] >= 1,
        )
        with progress:
            data = aggregates_rebuild(on_step=lambda name: progress.advance(detail=f"{name} done"))
        counts = ", ".join(f"{len(data[key])} {key}" for key in AGGREGATE_KEYS)
        self.stdout.write(f"Aggregates rebuilt in {time.monotonic() - started:.2f} s: {counts}")
