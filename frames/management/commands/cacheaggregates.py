"""`python manage.py cacheaggregates`: rebuild the all-frames aggregate into the cache and its snapshot."""

import time

from django.core.management.base import BaseCommand

from frames.aggregates import AGGREGATE_KEYS, aggregates_rebuild


class Command(BaseCommand):
    help = "Rebuild the all-frames aggregate (sites, telescopes, filters, instruments, types, proposals)."

    def handle(self, *args, **options):
        started = time.monotonic()
        data = aggregates_rebuild()
        counts = ", ".join(f"{len(data[key])} {key}" for key in AGGREGATE_KEYS)
        self.stdout.write(f"Aggregates rebuilt in {time.monotonic() - started:.2f} s: {counts}")
