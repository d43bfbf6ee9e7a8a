"""`manage.py ingest_fits`: files and directories archived through fits_ingest, skips, failures, dry runs, --watch."""

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from rest_framework.test import APIClient

from frames.models import Frame, OutboxMessage, Version
from frames.tests.fitsfiles import make_fits

BASE_DIR = Path(__file__).resolve().parents[2]
ACROSS_ZERO = "lsc1m005-fa15-20240501-0042-e91"
NEAR_POLE = "tfn0m414-kb99-20240501-0007-e91"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# A plain progress line: files done of the total, the rate, and the counts so far.
PROGRESS = re.compile(
    r"ingest_fits: (\d+)/(\d+) files \(\d+%\), \d+\.\d files/s, ingested (\d+), skipped (\d+), failed (\d+)"
)


def progress_lines(out: str) -> list[tuple[int, ...]]:
    """(done, total, ingested, skipped, failed) of each progress line; every other line is left out."""
    return [
        tuple(int(group) for group in match.groups()) for match in map(PROGRESS.fullmatch, out.splitlines()) if match
    ]


def run(*args, stdout=None):
    """Run the command; returns (exit status, stdout, stderr)."""
    out, err = stdout or io.StringIO(), io.StringIO()
    try:
        call_command("ingest_fits", *[str(arg) for arg in args], stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def names_covering(point: str) -> list[str]:
    response = APIClient().get("/frames/", {"covers": point})
    assert response.status_code == 200, response.content
    return [item["basename"] for item in response.json()["results"]]


@pytest.fixture
def tree(tmp_path) -> Path:
    """A directory of two FITS files with known footprints, nested, beside files that are no FITS."""
    root = tmp_path / "data"
    (root / "night1" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    make_fits(root / "night1" / f"{ACROSS_ZERO}.fits.fz", ra=0.01, dec=-30.0)
    make_fits(root / "night1" / "deeper" / f"{NEAR_POLE}.fits", ra=45.0, dec=89.99, compressed=False, seed=2)
    make_fits(root / ".hidden" / "ignored.fits.fz", seed=3)
    (root / "night1" / "notes.txt").write_text("not a FITS file")
    (root / "night1" / "frame.fits.gz").write_bytes(b"not looked at")
    return root


@pytest.mark.django_db
def test_a_directory_is_ingested_recursively_and_found_by_covers(tree, s3_bucket):
    code, out, err = run(tree)
    assert code == 0, err
    # Not a terminal: a plain line per tenth of the files (here each file), then the summary.
    assert progress_lines(out) == [(1, 2, 1, 0, 0), (2, 2, 2, 0, 0)]
    assert out.splitlines()[-1] == "Ingested 2, skipped 0 (already archived), failed 0."
    assert len(out.splitlines()) == 3
    assert err == ""
    assert set(Frame.objects.values_list("basename", flat=True)) == {ACROSS_ZERO, NEAR_POLE}

    assert names_covering("POINT(0.01 -30)") == [ACROSS_ZERO]
    assert names_covering("POINT(359.99 -30)") == [ACROSS_ZERO]
    assert names_covering("POINT(0.06 -30)") == []
    assert names_covering("POINT(0 90)") == [NEAR_POLE]
    assert names_covering("POINT(225 89.99)") == [NEAR_POLE]
    assert names_covering("POINT(45 89.95)") == []

    version = Version.objects.get(frame__basename=ACROSS_ZERO)
    assert version.store_path == f"coj/kb05/20240430/processed/{ACROSS_ZERO}.fits.fz"
    url = APIClient().get(f"/frames/{version.frame_id}/").json()["url"]
    assert requests.get(url, timeout=10).content == (tree / "night1" / f"{ACROSS_ZERO}.fits.fz").read_bytes()
    assert OutboxMessage.objects.filter(frame_id=version.frame_id).count() == 1


@pytest.mark.django_db
def test_archived_files_are_skipped(tree):
    assert run(tree)[0] == 0
    code, out, err = run(tree, "-v", "2")
    assert code == 0
    assert f"Skipped {tree / 'night1' / ACROSS_ZERO}.fits.fz: already archived as frame" in out
    assert out.endswith("Ingested 0, skipped 2 (already archived), failed 0.\n")
    assert Version.objects.count() == 2


@pytest.mark.django_db
def test_any_failure_is_exit_status_1_with_its_reason(tree, tmp_path):
    broken = make_fits(tree / "night1" / "broken.fits.fz", omit=("BLKUID",), seed=4)
    not_fits = tree / "night1" / "garbage.fits"
    not_fits.write_bytes(b"garbage" * 500)
    wrong = tmp_path / "frame.jpg"
    wrong.write_bytes(b"\xff\xd8")
    code, out, err = run(tree, wrong, tmp_path / "missing.fits")
    assert code == 1
    lines = progress_lines(out)
    assert [line[:2] for line in lines] == [(done, 6) for done in range(1, 7)]
    # The failures so far grow with each failed file, and end at the summary's counts.
    assert [line[4] for line in lines] == sorted(line[4] for line in lines)
    assert lines[-1] == (6, 6, 2, 0, 4)
    assert out.endswith("\nIngested 2, skipped 0 (already archived), failed 4.\n")
    assert f"  {broken}: Missing required FITS header keywords: BLKUID.\n" in err
    assert f"  {not_fits}: The file is not a readable FITS file.\n" in err
    assert f"  {wrong}: Only .fits and .fits.fz files can be uploaded.\n" in err
    assert f"  {tmp_path / 'missing.fits'}: No such file or directory\n" in err
    assert Frame.objects.filter(observation_date__isnull=False).count() == 2


@pytest.mark.django_db
def test_a_bad_value_is_named_by_its_keyword(tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", OBSTYPE="NOT-A-TYPE")
    code, _, err = run(path)
    assert code == 1
    assert err == f'  {path}: OBSTYPE: "NOT-A-TYPE" is not a valid choice.\n'


@pytest.mark.django_db
def test_dry_run_checks_each_file_and_stores_nothing(tree, settings):
    code, out, err = run(tree, "--dry-run")
    assert code == 0, err
    assert f"Checked {tree / 'night1' / ACROSS_ZERO}.fits.fz: would be archived at coj/kb05/20240430/processed/" in out
    assert f"{NEAR_POLE}.fits: would be archived at coj/kb05/20240430/processed/{NEAR_POLE}.fits" in out
    assert out.endswith("Checked 2 files: 2 would be ingested, skipped 0 (already archived), failed 0.\n")
    assert not Frame.objects.exists()
    assert not any(path.is_file() for path in Path(settings.FILESTORE_LOCAL_ROOT).rglob("*"))


@pytest.mark.django_db
def test_a_terminal_gets_a_progress_bar_and_a_pipe_clean_lines(tree):
    code, out, _ = run(tree, stdout=Terminal())
    assert code == 0
    # A bar redrawn in place, from nothing done to all done, with the counts; no plain progress line.
    assert out.startswith("\ringest_fits:   0%|")
    assert re.search(r"\ringest_fits: 100%\|#+\| 2/2 \[[^]]*file/s, ingested 2, skipped 0, failed 0\]\n", out)
    assert progress_lines(out) == []
    assert out.endswith("\nIngested 2, skipped 0 (already archived), failed 0.\n")
    code, out, _ = run(tree)
    assert "\r" not in out and "\033" not in out
    assert progress_lines(out) == [(1, 2, 0, 1, 0), (2, 2, 0, 2, 0)]
    assert out.endswith("\nIngested 0, skipped 2 (already archived), failed 0.\n")
    # -v 0: the summary alone.
    code, out, _ = run(tree, "-v", "0")
    assert out == "Ingested 0, skipped 2 (already archived), failed 0.\n"


@pytest.mark.django_db
def test_failures_show_above_the_bar(tmp_path):
    path = make_fits(tmp_path / "a.fits.fz", omit=("PROPID",))
    code, out, err = run(path, stdout=Terminal())
    assert code == 1
    # The bar is cleared, the line written, and the bar drawn again below it.
    assert re.search(rf"\r +\rFailed {re.escape(str(path))}: Missing required FITS header keywords: PROPID\.\n\r", out)
    assert err == f"  {path}: Missing required FITS header keywords: PROPID.\n"


def test_paths_or_watch_are_required():
    with pytest.raises(CommandError, match="Give at least one PATH"):
        call_command("ingest_fits")
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("ingest_fits", "--watch", "/nonexistent/dir")
    with pytest.raises(CommandError, match="--interval must be positive"):
        call_command("ingest_fits", "x.fits", "--interval", "0")


def test_watch_tries_again_at_the_next_poll_when_a_service_is_down(tmp_path, monkeypatch):
    """No database here: the archive's side is a stand-in that fails once as an unreachable store would."""
    from frames.management.commands import ingest_fits

    watched = tmp_path / "incoming"
    watched.mkdir()
    path = make_fits(watched / "a.fits.fz")
    calls = []

    def stand_in(file, *, dry_run):
        calls.append(file)
        if len(calls) == 1:
            return ingest_fits.Outcome(ingest_fits.FAILED, "The file store cannot be reached.", transient=True)
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the command: it stops after this file
        return ingest_fits.Outcome(ingest_fits.INGESTED, "archived as frame 1")

    monkeypatch.setattr(ingest_fits, "ingest_file", stand_in)
    monkeypatch.setattr(ingest_fits, "close_old_connections", lambda: None)
    code, out, err = run("--watch", watched, "--interval", "0.05")
    assert code == 0
    assert calls == [path, path]  # unchanged, yet tried again
    assert f"Failed {path}: The file store cannot be reached. (trying again in 0.05 s)" in err
    assert out.endswith(f"Ingested {path}: archived as frame 1\nIngested 1, skipped 0 (already archived), failed 0.\n")


# --- --watch, in a process of its own that a signal stops ---------------------------------------------------------


def wait_for(predicate, timeout: float = 30.0, what: str = "the watcher"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def write_slowly(path: Path, data: bytes, seconds: float) -> None:
    """Write a file in pieces over `seconds`, as a copy over the network would."""
    pieces = 20
    size = len(data) // pieces + 1
    with open(path, "wb") as handle:
        for start in range(0, len(data), size):
            handle.write(data[start : start + size])
            handle.flush()
            time.sleep(seconds / pieces)


@pytest.mark.django_db(transaction=True)
def test_watch_ingests_new_stable_files_retries_changed_failures_and_stops_on_sigterm(tmp_path, settings):
    watched = tmp_path / "incoming"
    watched.mkdir()
    make_fits(watched / "before.fits.fz", seed=1)  # already there when the watch starts
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "archive.settings",
        "SECRET_KEY": "watch-test-secret-key-0123456789abcdef0123456789abcdef",
        "DEBUG": "false",
        "DB_NAME": connection.settings_dict["NAME"],  # the test database, which this test commits to
        "FILESTORE_TYPE": "local",
        "FILESTORE_LOCAL_ROOT": str(settings.FILESTORE_LOCAL_ROOT),
        "QUEUE_BROKER_URL": "memory://",
        "CONFIGDB_URL": "",
        "LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "manage.py", "ingest_fits", "--watch", str(watched), "--interval", "0.5"]
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=err)
    try:
        wait_for(lambda: Frame.objects.filter(basename="before").exists(), what="the file already there")

        # A file that fails is reported once, and not tried again while it stays as it is.
        broken = watched / "later.fits.fz"
        broken.write_bytes(b"half a file" * 300)
        wait_for(lambda: "later.fits.fz" in err_path.read_text(), what="the failure")
        time.sleep(1.5)  # three polls
        assert err_path.read_text().count("later.fits.fz") == 1
        # Once it changes it is retried, and archived.
        broken.write_bytes(make_fits(tmp_path / "later.fits.fz", seed=2).read_bytes())
        wait_for(lambda: Frame.objects.filter(basename="later").exists(), what="the retry")

        # A file still being written is left alone until its size holds still.
        write_slowly(watched / "slow.fits.fz", make_fits(tmp_path / "slow.fits.fz", seed=3).read_bytes(), 1.5)
        wait_for(lambda: Frame.objects.filter(basename="slow").exists(), what="the slow file")

        (watched / "sub").mkdir()
        make_fits(watched / "sub" / "bad.fits.fz", omit=("SITEID",), seed=4)
        wait_for(lambda: "bad.fits.fz" in err_path.read_text(), what="the second failure")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 1  # a failure is left
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out, err = out_path.read_text(), err_path.read_text()
    assert out.startswith(f"Watching {watched} every 0.5 s")
    assert out.endswith("Ingested 3, skipped 0 (already archived), failed 1.\n")
    assert "slow.fits.fz" not in err  # never tried half-written
    assert f"  {watched / 'sub' / 'bad.fits.fz'}: Missing required FITS header keywords: SITEID.\n" in err
    assert "Traceback" not in err
    assert Version.objects.count() == 3
    later = Version.objects.get(frame__basename="later")
    link = APIClient().get(f"/frames/{later.frame_id}/").json()["url"]
    assert b"".join(APIClient().get(urlsplit(link).path).streaming_content) == broken.read_bytes()
