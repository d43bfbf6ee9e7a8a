"""The per-process batch thread: batches in order, refusals when full, failures survived, connections given back."""

import os
import threading

import pytest
from django.db import connection

from archive.background import BatchThread


class Recorder:
    """A handler that records its batches and can be held back until released."""

    def __init__(self, fail_on=None):
        self.batches: list[list] = []
        self.entered = threading.Event()  # a batch has been taken
        self.release = threading.Event()
        self.release.set()
        self.fail_on = fail_on

    def __call__(self, batch):
        self.entered.set()
        assert self.release.wait(10)
        self.batches.append(batch)
        if self.fail_on in batch:
            raise RuntimeError("handler failure")


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def worker(recorder):
    thread = BatchThread(name="test-batches", handler=recorder, max_batch=3, max_queued=5, idle_seconds=0.05)
    yield thread
    assert thread.stop(timeout=10)


def test_items_go_in_submission_order_in_batches_of_at_most_max_batch(worker, recorder):
    recorder.release.clear()
    assert worker.submit(0)
    assert recorder.entered.wait(10)  # taken, and held by the handler
    for item in range(1, 5):
        assert worker.submit(item)
    recorder.release.set()
    assert worker.wait_idle(timeout=10)
    assert recorder.batches == [[0], [1, 2, 3], [4]]


def test_a_full_queue_refuses_items(worker, recorder):
    recorder.release.clear()
    assert worker.submit("first")
    assert recorder.entered.wait(10)
    assert worker.wait_idle(timeout=0.1) is False  # the handler holds the first batch
    assert all(worker.submit(item) for item in range(5))
    assert worker.submit("one too many") is False
    recorder.release.set()
    assert worker.wait_idle(timeout=10)
    assert [item for batch in recorder.batches for item in batch] == ["first", 0, 1, 2, 3, 4]


def test_a_failing_batch_does_not_end_the_thread(caplog):
    recorder = Recorder(fail_on="bad")
    worker = BatchThread(name="test-failures", handler=recorder, idle_seconds=0.05)
    try:
        worker.submit("bad")
        assert worker.wait_idle(timeout=10)
        worker.submit("good")
        assert worker.wait_idle(timeout=10)
        assert recorder.batches == [["bad"], ["good"]]
        assert worker.running
        assert "test-failures: a batch of 1 failed" in caplog.text
    finally:
        assert worker.stop(timeout=10)


def test_stop_handles_what_is_queued_and_a_later_submit_starts_again(worker, recorder):
    recorder.release.clear()
    for item in range(3):
        worker.submit(item)
    threading.Timer(0.1, recorder.release.set).start()
    assert worker.stop(timeout=10)
    assert not worker.running
    assert [item for batch in recorder.batches for item in batch] == [0, 1, 2]
    worker.submit(3)
    assert worker.wait_idle(timeout=10)
    assert recorder.batches[-1] == [3]


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _closed_within(seconds: float, alone: int) -> bool:
    for _ in range(int(seconds / 0.05)):
        if _backends() == alone:
            return True
        threading.Event().wait(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_threads_database_connection_is_closed_when_idle_and_when_stopped():
    opened, release = threading.Event(), threading.Event()

    def query(batch):
        with connection.cursor() as cursor:  # the thread's own connection
            cursor.execute("SELECT 1")
        opened.set()
        assert release.wait(10)

    alone = _backends()
    worker = BatchThread(name="test-connections", handler=query, idle_seconds=0.1)
    try:
        worker.submit("x")
        assert opened.wait(10)
        assert _backends() == alone + 1
        release.set()
        assert _closed_within(10, alone)  # idle: the connection goes
        opened.clear()
        release.clear()
        worker.idle_seconds = 60
        worker.submit("y")
        assert opened.wait(10)
        assert _backends() == alone + 1
        release.set()
        assert worker.wait_idle(timeout=10)
    finally:
        assert worker.stop(timeout=10)
    assert _closed_within(10, alone)  # stopping closes it at once, long before 60 s of idleness


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_a_thread_of_its_own(worker, recorder):
    worker.submit("parent")
    assert worker.wait_idle(timeout=10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here
        try:
            handled = []
            worker.handler = lambda batch: handled.extend(batch)
            worker.submit("child")
            ok = worker.wait_idle(timeout=10) and handled == ["child"] and worker.stop(timeout=10)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert recorder.batches == [["parent"]]
