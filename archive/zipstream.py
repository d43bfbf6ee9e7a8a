"""Zip archives streamed as they are built (zipstream-ng): members stored, never the whole archive in memory."""

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from zipstream import ZIP_STORED, ZipStream

logger = logging.getLogger(__name__)


@dataclass
class Member:
    """One file of an archive: `open()` starts reading it (e.g. an S3 GetObject) and returns its chunks."""

    arcname: str
    open: Callable[[], Iterable[bytes]]
    size: int | None = None


class MemberUnavailable(Exception):
    """A member could not be opened; it is left out of the archive and named in MISSING.txt."""


class MemberSkipped(Exception):
    """A member that turns out not to apply (a frame without a catalog); it is left out silently."""


def sized_length(members: list[Member]) -> int | None:
    """The archive's exact length when every member's size is known, else None."""
    if not members or any(member.size is None for member in members):
        return None
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    for member in members:
        stream.add(iter(()), member.arcname, size=member.size)  # the data is not read to measure it
    return len(stream)


def stream_zip(
    members: list[Member],
    *,
    missing_name: str,
    sized: bool = False,
    trailer: Callable[[list[str]], list[tuple[str, bytes]]] | None = None,
) -> Iterator[bytes]:
    """Yield the archive of `members` in order. The next member is opened while the current one streams (two in
    flight at most). Members that cannot be opened are listed in `missing_name`, unless the archive is `sized`
    (its length was announced), where a missing member aborts the stream. `trailer`, given the names of the members
    that could not be opened, returns files (name, bytes) to add after the members: what is known only once they
    have been read."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=sized)
    missing: list[str] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="zip-open") as opener:
        pending = opener.submit(members[0].open) if members else None
        for index, member in enumerate(members):
            assert pending is not None  # each member's opening was submitted before its turn
            try:
                chunks = pending.result()
            except MemberSkipped:
                chunks = None
            except MemberUnavailable:
                if sized:
                    raise
                logger.warning("Zip member %s could not be opened; listed as missing", member.arcname)
                missing.append(member.arcname)
                chunks = None
            pending = opener.submit(members[index + 1].open) if index + 1 < len(members) else None
            if chunks is not None:
                stream.add(chunks, member.arcname, size=member.size if sized else None)
                yield from stream.all_files()
    for name, data in trailer(missing) if trailer else []:
        stream.add(data, name, size=len(data) if sized else None)
        yield from stream.all_files()
    if missing:
        stream.add(("\n".join(missing) + "\n").encode(), missing_name)
        yield from stream.all_files()
    yield from stream.footer()
