"""gunicorn's configuration for a profiled benchmark server: gunicorn.conf.py's settings (the deployment's), and a
hook that wraps each worker's application so that every request is profiled with cProfile, in the thread that
serves it (a gthread worker's threads each have their own profiler), into BENCH_PROFILE_DIR. Only the benchmarks
use this file (`bench.common.gunicorn(profile_dir=...)`); the application is not changed."""

import cProfile
import itertools
import os
import runpy
import threading
from pathlib import Path

globals().update(
    {
        name: value
        for name, value in runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py")).items()
        if not name.startswith("__")
    }
)

_numbers = itertools.count()
_lock = threading.Lock()


class _Profiled:
    """The WSGI application, each request profiled to the end of its body, its stats dumped to a file of its own."""

    def __init__(self, application, directory: Path):
        self.application = application
        self.directory = directory

    def __call__(self, environ, start_response):
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            result = self.application(environ, start_response)
            try:
                body = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            profiler.disable()
        with _lock:
            number = next(_numbers)
        profiler.dump_stats(self.directory / f"{os.getpid()}-{number}.prof")
        return body


def post_worker_init(worker):
    directory = os.environ.get("BENCH_PROFILE_DIR")
    if directory:
        worker.wsgi = _Profiled(worker.wsgi, Path(directory))
