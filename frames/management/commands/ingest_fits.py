"""`python manage.py ingest_fits PATH... [--watch DIR] [--interval S] [--dry-run]`: archive FITS files from disk."""

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections
from rest_framework.exceptions import APIException

from archive.exceptions import ServiceUnavailable
from archive.progress import Progress
from frames import fitsingest, fitsmeta

logger = logging.getLogger(__name__)

INGESTED, SKIPPED, FAILED, CHECKED = "ingested", "skipped", "failed", "checked"


@dataclass
class Outcome:
    status: str  # INGESTED, SKIPPED, FAILED, or CHECKED (a dry run that would ingest)
    message: str
    transient: bool = False  # failed because the database, store or portal could not be reached


def describe(detail) -> str:
    """A one-line reason from an API error's detail, keywords named as the upload names them."""
    if isinstance(detail, dict):
        if "detail" in detail:
            return str(detail["detail"])
        parts = []
        for key, value in detail.items():
            text = describe(value)
            parts.append(text if key in ("file", "non_field_errors") else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(describe(item) for item in detail)
    return str(detail)


def fits_files(path: Path) -> list[Path]:
    """A file as given; a directory's *.fits and *.fits.fz files, recursively, without hidden ones, sorted."""
    if not path.is_dir():
        return [path]
    found = [
        child
        for child in path.rglob("*")
        if fitsmeta.is_fits_filename(child.name)
        and not any(part.startswith(".") for part in child.relative_to(path).parts)
        and child.is_file()
    ]
    return sorted(found)


def ingest_file(path: Path, *, dry_run: bool) -> Outcome:
    """Archive one file through `fits_ingest`; every problem becomes a failed outcome with its reason."""
    try:
        with open(path, "rb") as handle:
            result = fitsingest.fits_ingest(fileobj=handle, filename=path.name, dry_run=dry_run)
    except fitsingest.FileAlreadyArchived as exc:
        return Outcome(SKIPPED, f"already archived as frame {exc.frame_id}")
    except ServiceUnavailable as exc:  # the store, the portal or the database: worth another try later
        return Outcome(FAILED, describe(exc.detail), transient=True)
    except APIException as exc:  # the file's own problem
        return Outcome(FAILED, describe(exc.detail))
    except (OperationalError, InterfaceError) as exc:
        logger.warning("Database unavailable while ingesting %s: %s", path, exc)
        return Outcome(FAILED, "The database cannot be reached.", transient=True)
    except OSError as exc:
        return Outcome(FAILED, exc.strerror or str(exc))
    except Exception as exc:  # one file's surprise must not stop the others; it is logged with its traceback
        logger.exception("Ingest of %s failed", path)
        return Outcome(FAILED, f"{type(exc).__name__}: {exc}")
    if result.frame_id is None:
        return Outcome(CHECKED, f"would be archived at {result.store_path}")
    return Outcome(INGESTED, f"archived as frame {result.frame_id} at {result.store_path}")


class Command(BaseCommand):
    help = (
        "Archive FITS files (.fits, .fits.fz) as the ingester would: headers, footprint, public date, the file "
        "stored, the frame created. Directories are searched recursively; files whose md5 is archived are skipped. "
        "Exits 1 if any file failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", metavar="PATH", help="FITS files, or directories to search.")
        parser.add_argument(
            "--watch",
            metavar="DIR",
            help="Then keep polling DIR, archiving files whose size has not changed over two polls, until SIGINT "
            "or SIGTERM. A failed file is retried once it changes, or at the next poll if the database, file "
            "store or portal could not be reached.",
        )
        parser.add_argument("--interval", type=float, default=5.0, metavar="S", help="Seconds between polls (5).")
        parser.add_argument("--dry-run", action="store_true", help="Check each file and print its path; store nothing.")

    def handle(self, *args, paths: list[str], watch: str | None, interval: float, dry_run: bool, **options):
        if not paths and not watch:
            raise CommandError("Give at least one PATH, or --watch DIR.")
        if interval <= 0:
            raise CommandError("--interval must be positive.")
        if watch and not Path(watch).is_dir():
            raise CommandError(f"{watch} is not a directory.")
        self.verbosity = options["verbosity"]
        self.dry_run = dry_run
        self.outcomes: dict[Path, Outcome] = {}
        self.stopping = False
        previous = self._install_signal_handlers()
        try:
            files = list(dict.fromkeys(file for path in paths for file in fits_files(Path(path))))
            self._ingest_batch(files)
            if watch and not self.stopping:
                self._watch(Path(watch), interval)
        finally:
            self._restore_signal_handlers(previous)
        self._summary()
        if any(outcome.status == FAILED for outcome in self.outcomes.values()):
            raise SystemExit(1)

    # --- stopping -----------------------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict:
        """SIGINT and SIGTERM finish the file at hand, then stop (signals reach the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def stop(signum, frame):
            self.stopping = True

        return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    @staticmethod
    def _restore_signal_handlers(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    # --- the work -----------------------------------------------------------------------------------------------

    def _record(self, path: Path, outcome: Outcome) -> str:
        self.outcomes[path] = outcome
        verb = {INGESTED: "Ingested", SKIPPED: "Skipped", FAILED: "Failed", CHECKED: "Checked"}[outcome.status]
        return f"{verb} {path}: {outcome.message}"

    def _counts(self) -> dict[str, int]:
        counts = {INGESTED: 0, SKIPPED: 0, FAILED: 0, CHECKED: 0}
        for outcome in self.outcomes.values():
            counts[outcome.status] += 1
        return counts

    def _ingest_batch(self, files: list[Path]) -> None:
        """Each file in turn, with progress: a bar on a terminal, otherwise a line every tenth of the files (and at
        least every 30 s), each with the rate and the counts so far."""
        if not files:
            return
        progress = Progress(
            self.stdout, label="ingest_fits", total=len(files), unit="file", enabled=self.verbosity >= 1
        )
        with progress:
            for path in files:
                if self.stopping:
                    break
                outcome = ingest_file(path, dry_run=self.dry_run)
                text = self._record(path, outcome)
                # One line per file when asked (-v 2), for a dry run (its point), and for a terminal's failures.
                if self.verbosity >= 2 or outcome.status == CHECKED or (progress.terminal and outcome.status == FAILED):
                    progress.note(text)
                counts = self._counts()
                progress.advance(
                    detail=f"ingested {counts[INGESTED] + counts[CHECKED]}, skipped {counts[SKIPPED]}, "
                    f"failed {counts[FAILED]}"
                )

    def _watch(self, directory: Path, interval: float) -> None:
        """Poll `directory`; a file is archived once its size and time are the same two polls running, and again
        (a failure retried, a rewrite added as a new version) only once they change.

        A failure because the database, store or portal cannot be reached is no fault of the file: the pass ends
        (the others would fail alike) and the file is tried again at the next poll.
        """
        self.stdout.write(f"Watching {directory} every {interval:g} s; stop with Ctrl-C or SIGTERM.")
        seen: dict[Path, tuple[int, int]] = {}
        handled = {
            path: _signature(path)
            for path, outcome in self.outcomes.items()
            if path.is_relative_to(directory) and not outcome.transient
        }
        while not self.stopping:
            close_old_connections()  # a long-lived process: drop connections the database has closed or aged out
            current = {}
            for path in fits_files(directory):
                signature = _signature(path)
                if signature is not None:
                    current[path] = signature
            for path, signature in current.items():
                if self.stopping:
                    break
                if seen.get(path) == signature and handled.get(path) != signature:
                    outcome = ingest_file(path, dry_run=self.dry_run)
                    text = self._record(path, outcome)
                    if outcome.transient:
                        self.stderr.write(f"{text} (trying again in {interval:g} s)")
                        break
                    handled[path] = signature
                    (self.stderr if outcome.status == FAILED else self.stdout).write(text)
            seen = current
            deadline = time.monotonic() + interval
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.1, interval))

    def _summary(self) -> None:
        counts = self._counts()
        if self.dry_run:
            text = f"Checked {len(self.outcomes)} files: {counts[CHECKED]} would be ingested, "
        else:
            text = f"Ingested {counts[INGESTED]}, "
        self.stdout.write(text + f"skipped {counts[SKIPPED]} (already archived), failed {counts[FAILED]}.")
        for path, outcome in self.outcomes.items():
            if outcome.status == FAILED:
                self.stderr.write(f"  {path}: {outcome.message}")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:  # gone between the listing and now
        return None
    return stat.st_size, stat.st_mtime_ns
