"""A per-process worker thread that hands queued items to a function in batches, off the requests' critical path."""

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


class BatchThread:
    """Items submitted from any thread are handed to `handler` in batches (up to `max_batch`, in submission order) on
    one daemon thread of this process, started on the first submission (again after a fork: threads do not survive
    one).

    Nothing is promised: `submit` refuses items beyond `max_queued`, and a process may die with items queued, so
    callers keep a durable record of their own (the outbox rows) that another path finishes. The thread's database
    connections are its own: checked before each batch like a request's, closed after `idle_seconds` without work,
    and closed when it stops. At exit, what is queued is still handled, for at most `exit_timeout` seconds.
    """

    def __init__(
        self,
        *,
        name: str,
        handler: Callable[[list[Any]], object],
        max_batch: int = 100,
        max_queued: int = 1000,
        idle_seconds: float = 5.0,
        exit_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.handler = handler
        self.max_batch = max_batch
        self.max_queued = max_queued
        self.idle_seconds = idle_seconds
        self.exit_timeout = exit_timeout
        self._pid: int | None = None
        self._atexit_pid: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._items: deque[Any] = deque()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, item: Any) -> bool:
        """Queue `item`; False when the queue is full (the item is then left to the caller's other path)."""
        if self._pid != os.getpid():  # a new process (fork): the parent's thread and lock are not ours
            self._reset()
            self._pid = os.getpid()
        with self._condition:
            if len(self._items) >= self.max_queued:
                return False
            self._items.append(item)
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
                if self._atexit_pid != self._pid:
                    atexit.register(self.stop, timeout=self.exit_timeout)
                    self._atexit_pid = self._pid
            self._condition.notify_all()
        return True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted item has been handled; False if `timeout` seconds passed first."""
        if self._pid != os.getpid():
            return True
        with self._condition:
            return self._condition.wait_for(lambda: not self._items and not self._busy, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Handle what is queued, then end the thread (and its database connections); False if it did not end within
        `timeout` seconds. A later `submit` starts a new thread."""
        if self._pid != os.getpid():
            return True
        with self._condition:
            thread = self._thread
            if thread is None:
                return True
            self._stopping = True
            self._condition.notify_all()
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def running(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def _next_batch(self) -> list[Any] | None:
        """The next batch, [] after `idle_seconds` without one, None when stopping with nothing left."""
        with self._condition:
            if not self._items and not self._stopping:
                self._condition.wait(self.idle_seconds)
            if not self._items:
                if not self._stopping:
                    return []
                # Decided under the lock: an item submitted from now on starts a new thread.
                self._thread = None
                return None
            batch = [self._items.popleft() for _ in range(min(self.max_batch, len(self._items)))]
            self._busy = True
            return batch

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                if not batch:
                    connections.close_all()  # idle: give the connection back rather than hold it
                    continue
                try:
                    close_old_connections()  # as at the start of a request: drop a broken or expired connection
                    self.handler(batch)
                except Exception:  # the thread must outlive any failure; the caller's other path finishes the items
                    logger.exception("%s: a batch of %d failed", self.name, len(batch))
                    connections.close_all()
                finally:
                    with self._condition:
                        self._busy = False
                        self._condition.notify_all()
        finally:
            connections.close_all()
            with self._condition:
                self._busy = False
                if self._thread is threading.current_thread():  # ended by an unexpected error
                    self._thread = None
                self._condition.notify_all()
