"""Progress of the long management commands: a bar redrawn in place on a terminal (tqdm), plain lines in a log.

On a terminal the bar shows the count, the rate, the time left and what the command adds (its failures so far);
lines a command prints meanwhile appear above it. Anywhere else (cron, a container's log, a pipe) there is no bar,
no carriage return and no escape code: a line at every tenth of the total, at least every `every_seconds` while the
work goes on, and at the end:

    ingest_fits: 40/400 files (10%), 12.3 files/s, ingested 38, skipped 1, failed 1
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from django.core.management.base import OutputWrapper
from tqdm import tqdm


class Stream(Protocol):
    """What progress is written to: a command's stdout (Django's OutputWrapper) or a plain text stream."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class _Unended:
    """A command's OutputWrapper as tqdm writes to it: the wrapper would end each redraw of the bar with a newline."""

    def __init__(self, out: OutputWrapper) -> None:
        self._out = out

    @property
    def encoding(self) -> str | None:  # tqdm draws with Unicode blocks only where the stream says it can
        return getattr(self._out._out, "encoding", None)

    def write(self, text: str) -> int:
        self._out.write(text, ending="")
        return len(text)

    def flush(self) -> None:
        self._out.flush()


class _Bar(tqdm):
    # No monitor thread: the bar is redrawn by the command's own calls, and a command leaves no thread behind.
    monitor_interval = 0


class Progress:
    """Counts work done of `total` (None: not known in advance) in `unit`s (singular: "file", "frame")."""

    def __init__(
        self,
        out: Stream,
        *,
        label: str,
        total: int | None,
        unit: str = "item",
        every_seconds: float = 30.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.label = label
        self.total = total
        self.unit = unit
        self.every_seconds = every_seconds
        self.enabled = enabled
        self.clock = clock
        self.done = 0
        self.detail = ""
        self.started = clock()
        self._last_line_at = self.started
        self._last_line_done = 0
        self._closed = False
        self._bar: _Bar | None = None
        if enabled and out.isatty():
            self._bar = _Bar(
                total=total,
                desc=label,
                unit=f" {unit}",
                file=_Unended(out) if isinstance(out, OutputWrapper) else out,
                dynamic_ncols=True,
                mininterval=0.2,
                leave=True,
            )

    @property
    def terminal(self) -> bool:
        return self._bar is not None

    def advance(self, count: int = 1, *, detail: str | None = None) -> None:
        """`count` more done; `detail` (counts of the command's own, its failures) replaces the previous one."""
        self.advance_to(self.done + count, detail=detail)

    def advance_to(self, done: int, *, detail: str | None = None) -> None:
        """As many done in all (for work that reports running totals)."""
        step = done - self.done
        self.done = done
        if detail is not None:
            self.detail = detail
        if not self.enabled:
            return
        if self._bar is not None:
            if detail is not None:
                self._bar.set_postfix_str(detail, refresh=False)
            self._bar.update(step)
            return
        now = self.clock()
        if self._tenth_passed() or now - self._last_line_at >= self.every_seconds:
            self._line(now)

    def note(self, text: str) -> None:
        """A line of the command's own (a failure, a file's outcome), above the bar on a terminal."""
        if self._bar is None:
            self._print(text)
            return
        self._bar.clear()
        self._print(text)
        self._bar.refresh()

    def close(self) -> None:
        """The bar's final state, or the last plain line if the previous one is behind (stopped early, say)."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and self.done != self._last_line_done:
            self._line(self.clock())

    def line(self) -> str:
        """The plain progress line as it stands."""
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        units = f"{self.unit}s"
        if self.total:
            count = f"{self.done}/{self.total} {units} ({100 * self.done // self.total}%)"
        else:
            count = f"{self.done} {units}"
        parts = [count, f"{rate:.1f} {units}/s"]
        if self.detail:
            parts.append(self.detail)
        return f"{self.label}: " + ", ".join(parts)

    def _tenth_passed(self) -> bool:
        if not self.total:
            return False
        if self.done >= self.total:
            return self._last_line_done < self.total
        tenth = max(1, math.ceil(self.total / 10))
        return self.done // tenth > self._last_line_done // tenth

    def _print(self, text: str) -> None:
        # A command's OutputWrapper ends each write with a newline of its own.
        self.out.write(text if isinstance(self.out, OutputWrapper) else text + "\n")
        self.out.flush()

    def _line(self, now: float) -> None:
        self._print(self.line())
        self._last_line_at = now
        self._last_line_done = self.done

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
