"""Fail abandoned datalab runs, republish runs whose publication was lost, and remove old unreferenced runs."""

from django.core.management.base import BaseCommand

from datalab import services


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        report = services.housekeeping()
        self.stdout.write(
            f"Failed {report['abandoned']} abandoned run(s), republished {report['republished']}, "
            f"removed {report['orphans']} orphan run(s)."
        )
