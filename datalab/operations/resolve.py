"""Input items resolved to what they name: archive frames the user may see, or products of the user's own runs; and
the content-addressed scratch cache the worker reads them through."""

import contextlib
import datetime
import fcntl
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Prefetch
from rest_framework.exceptions import NotFound

from archive.filestore import get_filestore
from datalab.models import DataOperation, OperationRun, RunStatus
from datalab.operations.base import InputError
from datalab.storage import product_storage
from frames.models import Frame, Version

_PRODUCT_RE = re.compile(r"^(?P<key>[0-9a-f]{64})(?:-(?P<index>[1-9][0-9]{0,5}))?$")
_PREVIEW_SUFFIX_RE = re.compile(r"-(small|large)$")
# Operations whose products are colour pictures, not FITS images another operation may take.
IMAGE_PRODUCT_OPERATIONS = {"Color Image"}


@dataclass
class Resolved:
    """One resolved item: what the dedupe key, the worker and the light curves need of it."""

    source: str
    basename: str
    item: dict
    frame: Frame | None = None
    version: Version | None = None
    run: OperationRun | None = None
    index: int = 0

    def canonical(self) -> dict:
        """The item's share of the dedupe key: its content, never its URLs or the front-end's labels."""
        if self.source == "archive":
            canonical: dict = {"s": "archive", "md5": self.version.md5}
        else:
            canonical = {"s": "datalab", "run": self.run.key, "i": self.index}
        for name in ("color", "zmin", "zmax"):
            if name in self.item:
                canonical[name] = self.item[name]
        if "color" in canonical:
            canonical["color"] = [canonical["color"][c] for c in ("r", "g", "b")]
        return canonical

    def worker_form(self) -> dict:
        """What the worker reads: where the file is, and the archive frame's metadata."""
        form = {**self.canonical(), "basename": self.basename}
        if "color" in self.item:
            form["color"] = self.item["color"]
        if self.source == "archive":
            form.update(
                version=self.version.id,
                frame=self.frame.id,
                filter=self.frame.primary_optical_element,
                observation_date=self.frame.observation_date.isoformat() if self.frame.observation_date else None,
            )
        return form

    @property
    def filter(self) -> str | None:
        return self.frame.primary_optical_element if self.frame is not None else None


def archive_basename(basename: str) -> str:
    """The frame's basename behind an item that names one of its previews (`-small`, `-large`)."""
    return _PREVIEW_SUFFIX_RE.sub("", basename, count=1)


def resolve_archive(*, user, basenames: list[str]) -> dict[str, tuple[Frame, Version]]:
    """Visible frames by item basename with their current versions, in two queries; absent or invisible: left out."""
    wanted = {name: archive_basename(name) for name in basenames}
    versions = Prefetch("version_set", queryset=Version.objects.order_by("-created", "-id"), to_attr="versions")
    frames = {
        frame.basename: frame
        for frame in Frame.objects.visible_to(user).filter(basename__in=set(wanted.values())).prefetch_related(versions)
    }
    found = {}
    for name, basename in wanted.items():
        frame = frames.get(basename)
        if frame is not None and frame.versions:
            found[name] = (frame, frame.versions[0])
    return found


def parse_product(basename: str) -> tuple[str, int] | None:
    match = _PRODUCT_RE.match(archive_basename(basename))
    if match is None:
        return None
    return match["key"], int(match["index"] or 0)


def owned_runs(*, user, keys: set[str]) -> dict[str, OperationRun]:
    """Runs with these keys that one of the user's own operations is attached to."""
    if not keys:
        return {}
    owned = DataOperation.objects.filter(session__user=user, run__key__in=keys).values("run_id")
    return {run.key: run for run in OperationRun.objects.filter(pk__in=owned)}


def resolve_items(*, user, items: list[dict], fits_only: bool = True) -> list[Resolved]:
    """Every item resolved for `user`, or NotFound naming the first one missing or not theirs to see."""
    archive_names = [item["basename"] for item in items if item.get("source", "archive") == "archive"]
    frames = resolve_archive(user=user, basenames=archive_names) if archive_names else {}
    products = {item["basename"]: parse_product(item["basename"]) for item in items if item.get("source") == "datalab"}
    runs = owned_runs(user=user, keys={parsed[0] for parsed in products.values() if parsed})
    resolved = []
    for item in items:
        source = item.get("source", "archive") or "archive"
        basename = item["basename"]
        if source == "archive":
            if basename not in frames:
                raise NotFound(f"Frame {basename} not found")
            frame, version = frames[basename]
            resolved.append(Resolved("archive", basename, item, frame=frame, version=version))
        elif source == "datalab":
            parsed = products.get(basename)
            run = runs.get(parsed[0]) if parsed else None
            if run is None:
                raise NotFound(f"Datalab product {basename} not found")
            if fits_only and run.name in IMAGE_PRODUCT_OPERATIONS:
                raise InputError(f"{basename} is a colour image; this input takes FITS images only.")
            if run.status == RunStatus.FAILED:
                raise InputError(f"{basename} comes from a failed operation; run it again first")
            resolved.append(Resolved("datalab", archive_basename(basename), item, run=run, index=parsed[1]))
        else:
            raise InputError(f"Source {source} not recognized")
    return resolved


def product_name(run_key: str, index: int) -> str:
    return run_key if index == 0 else f"{run_key}-{index}"


# --- The scratch cache ---------------------------------------------------------------------------------------------


def scratch_root() -> Path:
    root = Path(settings.TEMP_FITS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _cache_dir() -> Path:
    path = scratch_root() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _evict(budget: int, keep: Path) -> None:
    """Remove the least recently used files until the cache fits its budget (the file just fetched stays)."""
    entries = []
    for entry in _cache_dir().iterdir():
        if entry.name.startswith(".") or entry == keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            stat = entry.stat()
            entries.append((stat.st_atime, stat.st_size, entry))
    total = sum(size for _, size, _ in entries) + (keep.stat().st_size if keep.exists() else 0)
    for _, size, entry in sorted(entries):
        if total <= budget:
            break
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            total -= size


def cached_file(name: str, fetch) -> Path:
    """The cache's file `name` (a content name: a version md5, or a run key and index), fetched with `fetch(handle)`
    once: concurrent workers wait on a file lock instead of downloading the same file twice, and a file appears
    under its name only when complete."""
    target = _cache_dir() / name
    if target.exists():
        os.utime(target)
        return target
    lock_path = _cache_dir() / f".{name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not target.exists():
                with tempfile.NamedTemporaryFile(dir=_cache_dir(), prefix=".part-", delete=False) as handle:
                    try:
                        fetch(handle)
                    except BaseException:
                        handle.close()
                        os.unlink(handle.name)
                        raise
                os.replace(handle.name, target)
                _evict(settings.FILECACHE_TOTAL_SIZE, keep=target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    with contextlib.suppress(FileNotFoundError):
        lock_path.unlink()
    return target


def archive_file(*, version: Version) -> Path:
    """A local path of the version's file: in place for the local store, else through the cache."""
    store = get_filestore()
    if store.kind == "local":
        return store.local_path(version.store_path, version.key)

    def fetch(handle):
        for chunk in store.open(version.store_path, version.key):
            handle.write(chunk)

    return cached_file(f"{version.md5}{version.extension}", fetch)


def product_file(*, storage_key: str, cache_name: str) -> Path:
    """A local path of a stored product: in place when the product storage is a local directory."""
    storage = product_storage()
    try:
        return Path(storage.path(storage_key))
    except NotImplementedError:
        pass

    def fetch(handle):
        with storage.open(storage_key, "rb") as source:
            shutil.copyfileobj(source, handle, 1024 * 1024)

    return cached_file(cache_name, fetch)


def run_scratch(run_key: str, attempt: int) -> Path:
    """A private directory for one attempt of one run; the caller removes it in a `finally`."""
    path = scratch_root() / "runs" / f"{run_key[:16]}-{attempt}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def observation_datetime(value: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if value else None
