"""archive/progress.py: plain lines off a terminal (at each tenth, at least every so often, at the end), a bar on
one, lines of the command's own above the bar, and nothing at all when disabled."""

import io
import re

from django.core.management.base import OutputWrapper

from archive.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_at_each_tenth_with_the_rate_and_the_detail():
    out, clock = io.StringIO(), Clock()
    with Progress(out, label="job", total=40, unit="file", clock=clock) as progress:
        for done in range(1, 41):
            clock.now += 0.5  # two files a second
            progress.advance(detail=f"failed {done // 8}")
    lines = out.getvalue().splitlines()
    assert lines[0] == "job: 4/40 files (10%), 2.0 files/s, failed 0"
    assert lines[-1] == "job: 40/40 files (100%), 2.0 files/s, failed 5"
    assert [int(re.match(r"job: (\d+)/", line).group(1)) for line in lines] == list(range(4, 41, 4))
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()


def test_a_slow_run_gets_a_line_at_least_every_so_often_and_at_its_early_end():
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, label="slow", total=1000, unit="frame", every_seconds=30, clock=clock)
    for _ in range(5):
        clock.now += 20
        progress.advance()
    assert out.getvalue().splitlines() == [
        "slow: 2/1000 frames (0%), 0.1 frames/s",
        "slow: 4/1000 frames (0%), 0.1 frames/s",
    ]
    progress.close()  # stopped before the end: the last count is not lost
    progress.close()
    assert out.getvalue().splitlines()[-1] == "slow: 5/1000 frames (0%), 0.1 frames/s"
    assert len(out.getvalue().splitlines()) == 3


def test_an_unknown_total_is_counted_without_a_percentage():
    out, clock = io.StringIO(), Clock()
    with Progress(out, label="scan", total=None, unit="run", every_seconds=10, clock=clock) as progress:
        clock.now += 10
        progress.advance(3)
    assert out.getvalue() == "scan: 3 runs, 0.3 runs/s\n"


def test_a_command_stream_gets_one_newline_per_line():
    raw = io.StringIO()
    with Progress(OutputWrapper(raw), label="job", total=2, unit="file") as progress:
        progress.advance()
        progress.note("a line of its own")
        progress.advance()
    lines = raw.getvalue().splitlines()
    assert lines[1] == "a line of its own" and len(lines) == 3
    assert lines[2].startswith("job: 2/2 files (100%), ")


def test_a_terminal_gets_a_bar_redrawn_in_place_with_lines_above_it():
    raw = Terminal()
    with Progress(OutputWrapper(raw), label="job", total=4, unit="file") as progress:
        assert progress.terminal
        progress.advance(detail="failed 0")
        progress.note("Failed x.fits: broken")
        progress.advance(3, detail="failed 1")
    text = raw.getvalue()
    assert text.startswith("\rjob:   0%|          | 0/4 [")
    # The bar is cleared, the line written, the bar drawn again; at the end it stays, full, on a line of its own.
    assert re.search(r"\r +\rFailed x\.fits: broken\n\rjob: ", text)
    assert re.search(r"\rjob: 100%\|##########\| 4/4 \[[^]]*file/s, failed 1\]\n$", text)
    # No plain progress line on a terminal.
    assert "files/s" not in text


def test_disabled_progress_writes_nothing_but_notes():
    for out in (io.StringIO(), Terminal()):
        with Progress(out, label="job", total=3, enabled=False) as progress:
            progress.advance(3)
            progress.note("only this")
        assert out.getvalue() == "only this\n"
