"""Private service processes on loopback for the test suite and the benchmarks (never imported by the archive
itself): a free port, a memcached, and a RabbitMQ node with its own name, ports and directory.

A node of its own, not `scripts/localbroker.sh`'s: that one may be serving `make run` or a developer's worker, and a
test or a benchmark must neither fill its queues nor stop it.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, *, timeout: float = 10) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; an error if `process` ends or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def memcached(memory_mb: int = 64) -> Iterator[str]:
    """A private memcached on a free loopback port; yields its `host:port`, and stops it on exit."""
    binary = shutil.which("memcached")
    if binary is None:
        raise RuntimeError("memcached is missing: scripts/bootstrap.sh installs it")
    port = free_port()
    as_root = ["-u", "root"] if os.geteuid() == 0 else []  # memcached refuses to run as root unless told to
    process = subprocess.Popen(
        [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", str(memory_mb), *as_root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class RabbitMQNode:
    """A RabbitMQ node on loopback ports of its own, its state under `base`; it may be stopped and started again."""

    def __init__(self, base: Path, name: str) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise RuntimeError("rabbitmq-server is missing: scripts/bootstrap.sh installs it")
        self.base = base
        self.port = free_port()
        self.name = f"{name}@localhost"
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("loopback_users = none\n")
        self.env = {
            **os.environ,
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen | None = None

    def ctl(self, *args: str, timeout: float = 90) -> str:
        """`rabbitmqctl` against this node; its output."""
        done = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def start(self, timeout: int = 90) -> None:
        """Start the node and wait until it accepts connections."""
        log = open(self.base / "server.out", "ab")  # noqa: SIM115 - kept open by the server process
        self.process = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], env=self.env, stdout=log, stderr=log)
        self.ctl("wait", str(self.base / "pid"), "--timeout", str(timeout), timeout=timeout + 30)

    def stop(self) -> None:
        self.ctl("stop", str(self.base / "pid"))

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting in each queue of the default virtual host."""
        depths = {}
        for line in self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths
