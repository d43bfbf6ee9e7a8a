"""A private RabbitMQ node for a benchmark: its own node name, loopback ports and directory under .local/bench.

A node of its own, not `scripts/localbroker.sh`'s: that one may be serving `make run` or a developer's worker, and
a benchmark must neither fill its queues nor stop it. The node and everything queued on it go when the benchmark
ends.
"""

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.common import WORK_DIR, free_port, say

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


@dataclass
class Node:
    name: str
    url: str
    env: dict

    def ctl(self, *args: str, timeout: float = 90) -> str:
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting in each queue of the default virtual host."""
        depths = {}
        for line in self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths


@contextlib.contextmanager
def rabbitmq(label: str = "bench"):
    """Start a RabbitMQ node on free loopback ports; yields a Node; stopped and its directory removed on exit."""
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        raise RuntimeError("rabbitmq-server is missing: scripts/bootstrap.sh installs it")
    base = WORK_DIR / f"rabbitmq-{label}-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text("loopback_users = none\n")
    port = free_port()
    name = f"archive-{label}-{os.getpid()}@localhost"
    env = {
        **os.environ,
        "HOME": str(base),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
    }
    node = Node(name, f"amqp://guest:guest@127.0.0.1:{port}//", env)
    with open(base / "server.out", "wb") as log:
        process = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], env=env, stdout=log, stderr=log)
    try:
        node.ctl("wait", str(base / "pid"), "--timeout", "90", timeout=120)
        yield node
    finally:
        try:
            node.ctl("stop", str(base / "pid"))
        except (subprocess.SubprocessError, OSError) as exc:
            say(f"  could not stop RabbitMQ node {name} cleanly ({exc}); terminating it")
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)
