"""What every benchmark shares: the bench database, Django, servers (gunicorn, moto), timing and printed output."""

import contextlib
import datetime
import os
import platform
import runpy
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from archive.localnodes import free_port, memcached

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WORK_DIR = ROOT / ".local" / "bench"  # generated files, server logs; never committed
FILES_DIR = WORK_DIR / "files"
LOG_DIR = WORK_DIR / "logs"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

DEFAULT_DATABASE = "archive_bench"
DEFAULT_FRAMES = 1_000_000
DEFAULT_SEED = 8
GUNICORN_WORKERS = 2  # the deployment's worker class and threads (gunicorn.conf.py), as many workers as this 2-core VM
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"  # the image's and the compose stack's settings
PROFILE_CONFIG = Path(__file__).resolve().parent / "gunicorn_profile.py"  # the same, with a profiling hook
SYNC = "sync"
# One secret per benchmark process: the servers it starts and its in-process requests sign with the same key.
SECRET_KEY = os.environ.get("BENCH_SECRET_KEY") or "bench-" + secrets.token_urlsafe(48)


# --- the bench database and Django -------------------------------------------------------------------------------


def check_database_name(name: str) -> str:
    """The benchmarks drop and fill their database: never the project's own one nor a test database."""
    if name == "archive" or name.startswith("test") or "bench" not in name:
        raise SystemExit(f"Refusing to use database {name!r}: the benchmark database's name must contain 'bench'.")
    return name


def app_environment(database: str, **extra: str) -> dict[str, str]:
    """The environment of the application (servers, manage.py) pointed at the bench database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "archive.settings",
        "DB_NAME": check_database_name(database),
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "FILESTORE_LOCAL_ROOT": str(FILES_DIR),
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def configure_django(database: str) -> None:
    """Set this process up as the application, on the bench database (idempotent)."""
    import django
    from django.conf import settings

    if settings.configured:
        if settings.DATABASES["default"]["NAME"] != database:
            raise RuntimeError(f"Django is already configured for {settings.DATABASES['default']['NAME']}")
        return
    os.environ.update(app_environment(database))
    django.setup()


def connection_parameters(database: str) -> dict:
    """psycopg2 keyword arguments for `database`, from the application's own settings (DB_HOST or .local)."""
    configure_django(database)
    from django.conf import settings

    db = settings.DATABASES["default"]
    return {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"], "dbname": database}


def connect(database: str, *, autocommit: bool = False):
    import psycopg2

    connection = psycopg2.connect(**connection_parameters(database))
    connection.autocommit = autocommit
    return connection


def server_connect(database: str):
    """An autocommit connection to the cluster's maintenance database, to create or drop `database`."""
    import psycopg2

    params = {**connection_parameters(database), "dbname": "postgres"}
    connection = psycopg2.connect(**params)
    connection.autocommit = True
    return connection


def manage(database: str, *args: str) -> None:
    """Run `manage.py` with the bench database, as an operator would."""
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=app_environment(database), check=True
    )


def bench_users(database: str) -> dict[str, str]:
    """API tokens of the bench's superuser (for ingest) and proposal member; created when missing."""
    from bench.dataset import MEMBER_PROPOSALS

    configure_django(database)
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    users = get_user_model().objects
    admin = users.filter(username="bench-admin").first() or users.create_superuser(
        username="bench-admin", password=secrets.token_urlsafe(16)
    )
    member = users.filter(username="bench-member").first() or users.create_user(
        username="bench-member", password=secrets.token_urlsafe(16)
    )
    if member.profile.proposals != list(MEMBER_PROPOSALS):
        member.profile.proposals = list(MEMBER_PROPOSALS)
        member.profile.save()
    return {
        "admin": Token.objects.get_or_create(user=admin)[0].key,
        "member": Token.objects.get_or_create(user=member)[0].key,
    }


def dataset_info(database: str) -> dict | None:
    """What the generator recorded about the bench database (scale, seed, its own figures), or None."""
    import psycopg2

    try:
        connection = connect(database)
    except psycopg2.OperationalError:
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('bench_dataset') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return None
            cursor.execute("SELECT info FROM bench_dataset ORDER BY generated_at DESC LIMIT 1")
            row = cursor.fetchone()
            return row[0] if row else None
    finally:
        connection.close()


def require_dataset(database: str) -> dict:
    info = dataset_info(database)
    if info is None:
        raise SystemExit(f"No generated archive in {database}: run `python -m bench.generate` first.")
    return info


# --- servers --------------------------------------------------------------------------------------------------------


def wait_for_http(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode} before answering") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in 30 s; killing it", flush=True)
            process.kill()
            process.wait(timeout=10)


def deployed_gunicorn() -> dict:
    """The worker class and threads of gunicorn.conf.py, the deployment's."""
    config = runpy.run_path(str(GUNICORN_CONFIG))
    return {"worker_class": config["worker_class"], "threads": config["threads"]}


@contextlib.contextmanager
def gunicorn(
    database: str,
    *,
    name: str = "gunicorn",
    workers: int = GUNICORN_WORKERS,
    worker_class: str | None = None,
    timeout: int = 30,
    expect_errors: bool = False,
    profile_dir: Path | None = None,
    **env,
):
    """A real gunicorn server of the application on a free loopback port, run as deployed: gunicorn.conf.py's worker
    class and threads (`worker_class=SYNC` for sync workers instead), `workers` of them, and a memcached of its own as
    the cache (unless `CACHE_LOC` is given). With `profile_dir`, each request is profiled (cProfile, in the thread that
    serves it) into that directory. Stopped on exit, and its log checked for errors unless the benchmark provokes
    them (`expect_errors`)."""
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log"
    config = PROFILE_CONFIG if profile_dir else GUNICORN_CONFIG
    command = [str(VENV_BIN / "gunicorn"), "archive.wsgi", "--config", str(config)]
    command += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--timeout", str(timeout)]
    if worker_class == SYNC:
        command += ["--worker-class", SYNC, "--threads", "1"]  # more than one thread would make gunicorn use gthread
    elif worker_class is not None:
        raise ValueError(f"worker_class: None (gunicorn.conf.py's) or {SYNC!r}, not {worker_class!r}")
    if profile_dir:
        env["BENCH_PROFILE_DIR"] = str(profile_dir)
    with contextlib.ExitStack() as stack:
        if "CACHE_LOC" not in env:
            env["CACHE_LOC"] = stack.enter_context(memcached())
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=app_environment(database, **env), stdout=log, stderr=log)
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        server.description = _describe(workers, worker_class)
        try:
            wait_for_http(server.url + "/health/", process=process)
            server.wait_for_workers(workers)
            yield server
        finally:
            _stop(process, name)
            if not expect_errors:
                server.report_errors()


def _describe(workers: int, worker_class: str | None) -> str:
    if worker_class == SYNC:
        return f"gunicorn {workers} sync workers, memcached"
    deployed = deployed_gunicorn()
    return f"gunicorn {workers} {deployed['worker_class']} workers of {deployed['threads']} threads, memcached"


class Server:
    """A running gunicorn: its URL, its master process, its workers and its log."""

    def __init__(self, url: str, process: subprocess.Popen, log_path: Path):
        self.url = url
        self.process = process
        self.log_path = log_path
        self.description = "gunicorn"

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def wait_for_workers(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def report_errors(self) -> None:
        """Say so when the server logged errors: a benchmark of failing requests is no benchmark."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return
        errors = [line for line in lines if "Traceback" in line or " ERROR " in line or "[CRITICAL]" in line]
        if errors:
            print(f"  WARNING: the server logged {len(errors)} error line(s); see {self.log_path}", flush=True)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench-access-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
    "AWS_DEFAULT_REGION": "us-west-2",
}
BUCKET = "archive-bench"


def s3_environment(endpoint: str) -> dict[str, str]:
    """The application's settings for the S3 store on the moto endpoint (as a deployment sets them)."""
    return {**S3_CREDENTIALS, "FILESTORE_TYPE": "s3", "AWS_BUCKET": BUCKET, "S3_ENDPOINT_URL": endpoint}


@contextlib.contextmanager
def in_process_store(environment: dict[str, str] | None):
    """This process's application on the store of `environment` (the S3 one), as its servers are; None: local."""
    if not environment:
        yield
        return
    from django.test import override_settings

    from archive.filestore import reset_filestore

    saved = {name: os.environ.get(name) for name in S3_CREDENTIALS}
    os.environ.update(S3_CREDENTIALS)  # boto3 reads credentials from the environment
    names = ("FILESTORE_TYPE", "AWS_BUCKET", "S3_ENDPOINT_URL", "AWS_DEFAULT_REGION")
    try:
        with override_settings(**{name: environment[name] for name in names}):
            reset_filestore()
            yield
    finally:
        reset_filestore()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def moto_s3(bucket: str = BUCKET):
    """A moto S3 server on a free loopback port with one versioned bucket; yields (endpoint, boto3 client)."""
    import boto3

    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / "moto.log", "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(endpoint, process=process)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield endpoint, client
    finally:
        _stop(process, "moto_server")


def rss_kb(pid: int) -> int:
    """Resident set size of a process (VmRSS), in kB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples the RSS of some processes in a thread; `growth_mb` is the largest rise of any of them."""

    def __init__(self, pids: list[int], interval: float = 0.02):
        self.pids = pids
        self.interval = interval
        self.baseline = {pid: rss_kb(pid) for pid in pids}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_kb(pid))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max((self.peak[pid] - self.baseline[pid]) / 1024 for pid in self.pids) if self.pids else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _system_busy_seconds() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Where the CPU went during a measurement: this process (the client), the server's processes, and the rest of
    the machine (the database, and anything else running)."""

    def __init__(self, server_pids: list[int]):
        self.server_pids = server_pids

    def __enter__(self):
        self._wall = time.perf_counter()
        self._client = cpu_seconds(os.getpid())
        self._server = sum(map(cpu_seconds, self.server_pids))
        self._busy = _system_busy_seconds()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._wall
        client = cpu_seconds(os.getpid()) - self._client
        server = sum(map(cpu_seconds, self.server_pids)) - self._server
        busy = _system_busy_seconds() - self._busy
        capacity = wall * (os.cpu_count() or 1)
        self.shares = {
            "client_percent": round(100 * client / capacity, 1),
            "server_percent": round(100 * server / capacity, 1),
            "rest_percent": round(100 * max(busy - client - server, 0) / capacity, 1),
            "idle_percent": round(100 * max(capacity - busy, 0) / capacity, 1),
        }


# --- timing ---------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: list[float]) -> dict:
    """p50, p95, mean and max in milliseconds, and the sample size."""
    ms = [value * 1000 for value in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
    }


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


# --- profiles -------------------------------------------------------------------------------------------------------


def profile_cumulative(stats, filename: str, name: str) -> float:
    """Seconds spent in (and under) the functions `name` of files ending with `filename`, in a pstats.Stats."""
    return sum(
        values[3] for (file, _, function), values in stats.stats.items() if function == name and file.endswith(filename)
    )


def profile_stages(stats, stages: list[tuple[str, float]], count: int) -> list[dict]:
    """Milliseconds per request and share of the profiled time for each (label, seconds) stage, and the rest."""
    total = stats.total_tt
    stages = [*stages, ("the rest: HTTP handling, middleware, DRF dispatch", total - sum(s for _, s in stages))]
    return [
        {"stage": label, "ms_per_request": round(1000 * seconds / count, 2), "percent": round(100 * seconds / total, 1)}
        for label, seconds in stages
    ]


def _function_name(function: tuple) -> str:
    filename, line, name = function
    return f"{name} ({filename.split('site-packages/')[-1]}:{line})" if filename != "~" else name


def profile_top(stats, count: int = 12) -> list[dict]:
    """The functions with the most own time, as shares of the profiled time."""
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [
        {"function": _function_name(function), "own_percent": round(100 * values[2] / stats.total_tt, 1)}
        for function, values in rows
    ]


def print_stages(stages: list[dict]) -> None:
    for stage in stages:
        say(f"    {stage['percent']:5.1f} %  {stage['ms_per_request']:6.2f} ms  {stage['stage']}")


# --- output ---------------------------------------------------------------------------------------------------------


def heading(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def say(text: str) -> None:
    print(text, flush=True)


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """A plain-text table of `rows` (dicts) with `columns` as (key, title) pairs."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, (_, title) in enumerate(columns)]
    print("  " + "  ".join(title.ljust(widths[i]) for i, (_, title) in enumerate(columns)))
    print("  " + "  ".join("-" * width for width in widths))
    for line in cells:
        print("  " + "  ".join(value.ljust(widths[i]) for i, value in enumerate(line)))
    sys.stdout.flush()


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def verdict(value: float | None, target: float, *, at_least: bool = False) -> str:
    """'met' or 'not met' for a figure against the issue's target (a ceiling unless `at_least`)."""
    if value is None:
        return "not measured"
    return "met" if (value >= target if at_least else value < target) else "not met"


def human_bytes(count: float) -> str:
    """Decimal units, as every MB of the benchmarks (10^6 bytes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{int(count)} B" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1000
    return f"{count:.2f} GB"


def machine() -> dict:
    """The machine the figures were measured on: cores, memory, CPU model, software versions, load."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": commit.stdout.strip() or None,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def add_database_argument(parser) -> None:
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="the bench database (default archive_bench)")
