"""A private RabbitMQ node for a benchmark (archive.localnodes), under .local/bench, gone when the benchmark ends
with everything queued on it."""

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

from archive.localnodes import RabbitMQNode
from bench.common import WORK_DIR, say


@contextlib.contextmanager
def rabbitmq(label: str = "bench") -> Iterator[RabbitMQNode]:
    """Start a RabbitMQ node on free loopback ports; stopped and its directory removed on exit."""
    base = WORK_DIR / f"rabbitmq-{label}-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    node = RabbitMQNode(base, f"archive-{label}-{os.getpid()}")
    try:
        node.start()
        yield node
    finally:
        try:
            node.stop()
        except (subprocess.SubprocessError, OSError) as exc:
            say(f"  could not stop RabbitMQ node {node.name} cleanly ({exc}); terminating it")
            if node.process is not None:
                node.process.terminate()
        if node.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
