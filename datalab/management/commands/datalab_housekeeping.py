"""Fail abandoned datalab runs, republish runs whose publication was lost, and remove old unreferenced runs."""

from django.core.management.base import BaseCommand

from archive.progress import Progress
from datalab import services


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        self.enabled = options["verbosity"] >= 1
        self.progress: Progress | None = None
        try:
            report = services.housekeeping(progress=self._progress)
        finally:
            self._end_phase()
        self.stdout.write(
            f"Failed {report['abandoned']} abandoned run(s), republished {report['republished']}, "
            f"removed {report['orphans']} orphan run(s)."
        )

    def _progress(self, phase: str, done: int, total: int) -> None:
        """Each phase with runs to examine gets its progress (a bar, or plain lines), started as the phase starts."""
        if done == 0:
            self._end_phase()
            if total:
                label = f"datalab_housekeeping ({phase})"
                self.progress = Progress(self.stdout, label=label, total=total, unit="run", enabled=self.enabled)
        elif self.progress is not None:
            self.progress.advance_to(done)

    def _end_phase(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
