"""Progress of `deleteframes` and `cacheaggregates` (ingest_fits' is in test_ingest_fits.py): plain lines and the
summary when the output is not a terminal, a bar when it is."""

import datetime
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from frames.models import Frame
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args, stdout=None) -> str:
    out = stdout or io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def old_frames(count: int) -> list[Frame]:
    observed = timezone.now() - datetime.timedelta(days=400)
    return [FrameFactory(observation_date=observed) for _ in range(count)]


def test_deleteframes_logs_each_batch_against_the_total_then_its_summary():
    old_frames(5)
    FrameFactory(observation_date=timezone.now())  # kept
    out = run("deleteframes", "--days-old", "365", "--batch-size", "2")
    lines = out.splitlines()
    progress = [
        re.fullmatch(r"deleteframes: (\d)/5 frames \((\d+)%\), [\d.]+ frames/s, (\d+) files queued for deletion", line)
        for line in lines[:-1]
    ]
    assert all(progress), lines
    # Batches of two: 2, 4, then the last one.
    assert [(match.group(1), match.group(2)) for match in progress] == [("2", "40"), ("4", "80"), ("5", "100")]
    files = int(progress[-1].group(3))
    assert lines[-1] == f"Deleted 5 frames and queued {files} files for deletion."
    assert Frame.objects.count() == 1
    assert "\r" not in out


def test_deleteframes_draws_a_bar_on_a_terminal():
    old_frames(3)
    out = run("deleteframes", "--days-old", "365", "--batch-size", "1", stdout=Terminal())
    assert out.startswith("\rdeleteframes:   0%|")
    assert re.search(r"\rdeleteframes: 100%\|#+\| 3/3 \[[^]]*frame/s, \d+ files queued for deletion\]\n", out)
    assert re.search(r"\]\nDeleted 3 frames and queued \d+ files for deletion\.\n$", out)
    assert "frames/s" not in out  # no plain line beside the bar


def test_deleteframes_quiet_and_empty_selections_print_the_summary_alone():
    old_frames(2)
    assert run("deleteframes", "--days-old", "365", "-v", "0").startswith("Deleted 2 frames")
    assert len(run("deleteframes", "--days-old", "365").splitlines()) == 1  # nothing left: no progress


def test_cacheaggregates_logs_its_steps_then_its_summary():
    old_frames(2)
    out = run("cacheaggregates")
    lines = out.splitlines()
    steps = ("distinct values", "public dates", "stored")
    for index, (line, step) in enumerate(zip(lines, steps, strict=False), start=1):
        assert re.fullmatch(rf"cacheaggregates: {index}/3 steps \(\d+%\), [\d.]+ steps/s, {step} done", line), line
    assert len(lines) == 4
    assert re.fullmatch(r"Aggregates rebuilt in [\d.]+ s: \d+ proposals, .*, \d+ sites, .*", lines[-1])


def test_cacheaggregates_draws_a_bar_on_a_terminal():
    out = run("cacheaggregates", stdout=Terminal())
    assert out.startswith("\rcacheaggregates:   0%|")
    assert re.search(r"\rcacheaggregates: 100%\|#+\| 3/3 \[[^]]*step/s, stored done\]\n", out)
    assert out.splitlines()[-1].startswith("Aggregates rebuilt in ")
