"""A zip archive laid out before its first byte, from its members' names, sizes and CRC-32s, so that any byte range
of it can be produced on its own: the part of a member's data a range covers is read from the store, the headers
around it are written from the layout. What makes a zip download resumable (`Range`, `If-Range`) without keeping it.

Members are stored (never compressed: FITS files are compressed already), with their sizes and CRC-32 in the local
headers (no data descriptors), Zip64 records where sizes or offsets need them, and the same timestamp for every
member. The bytes are therefore a fixed function of the members. zipstream-ng, which builds the other zips, writes
CRC-32s after each member's data as it reads it, so it cannot start in the middle; Python's zipfile writes to a
seekable file. This module is the one place the format is written by hand; the tests read its archives with
zipfile and `unzip -t`, Zip64 included.
"""

import datetime
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

ZIP64_LIMIT = 0xFFFFFFFF
VERSION_STORED = 20
VERSION_ZIP64 = 45
UTF8_FLAG = 0x800
REGULAR_FILE_ATTRIBUTES = (0o100644 << 16) & 0xFFFFFFFF


@dataclass(frozen=True)
class Entry:
    """One member: `read(start, end)` yields its bytes from `start` up to `end` (exclusive)."""

    name: str
    size: int
    crc32: int
    read: Callable[[int, int], Iterable[bytes]]


def _dos_time(moment: datetime.datetime) -> tuple[int, int]:
    moment = max(moment, datetime.datetime(1980, 1, 1, tzinfo=moment.tzinfo))
    date = (moment.year - 1980) << 9 | moment.month << 5 | moment.day
    time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
    return time, date


def _name(entry: Entry) -> tuple[bytes, int]:
    try:
        return entry.name.encode("ascii"), 0
    except UnicodeEncodeError:
        return entry.name.encode("utf-8"), UTF8_FLAG


def _local_header(entry: Entry, time: int, date: int) -> bytes:
    name, flags = _name(entry)
    zip64 = entry.size >= ZIP64_LIMIT
    extra = struct.pack("<HHQQ", 1, 16, entry.size, entry.size) if zip64 else b""
    size = ZIP64_LIMIT if zip64 else entry.size
    version = VERSION_ZIP64 if zip64 else VERSION_STORED
    fixed = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, version, flags, 0, time, date, entry.crc32, size, size, len(name), len(extra)
    )
    return fixed + name + extra


def _central_header(entry: Entry, offset: int, time: int, date: int) -> bytes:
    name, flags = _name(entry)
    fields: list[int] = []
    size = entry.size
    if entry.size >= ZIP64_LIMIT:
        fields += [entry.size, entry.size]
        size = ZIP64_LIMIT
    stored_offset = offset
    if offset >= ZIP64_LIMIT:
        fields.append(offset)
        stored_offset = ZIP64_LIMIT
    extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
    version = VERSION_ZIP64 if fields else VERSION_STORED
    fixed = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        3 << 8 | version,  # made by: Unix
        version,
        flags,
        0,
        time,
        date,
        entry.crc32,
        size,
        size,
        len(name),
        len(extra),
        0,
        0,
        0,
        REGULAR_FILE_ATTRIBUTES,
        stored_offset,
    )
    return fixed + name + extra


def _end_records(count: int, directory_offset: int, directory_size: int) -> bytes:
    records = b""
    zip64 = count >= 0xFFFF or directory_offset >= ZIP64_LIMIT or directory_size >= ZIP64_LIMIT
    if zip64:
        end64_offset = directory_offset + directory_size
        records += struct.pack(
            "<IQHHIIQQQQ", 0x06064B50, 44, VERSION_ZIP64, VERSION_ZIP64, 0, 0, count, count, directory_size,
            directory_offset,
        )  # fmt: skip
        records += struct.pack("<IIQI", 0x07064B50, 0, end64_offset, 1)
    records += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        min(count, 0xFFFF),
        min(count, 0xFFFF),
        min(directory_size, ZIP64_LIMIT),
        min(directory_offset, ZIP64_LIMIT),
        0,
    )
    return records


class StoredZip:
    """The layout of a zip of `entries`, all stamped `modified`; `len()` is its length, `chunks(start, end)` its
    bytes in [start, end)."""

    def __init__(self, entries: list[Entry], *, modified: datetime.datetime):
        time, date = _dos_time(modified)
        # Segments in order: (offset, bytes written from the layout) or (offset, the entry whose data is there).
        self._segments: list[tuple[int, int, bytes | Entry]] = []
        offset = 0
        directory = []
        for entry in entries:
            header = _local_header(entry, time, date)
            directory.append(_central_header(entry, offset, time, date))
            self._add(offset, header)
            offset += len(header)
            if entry.size:
                self._segments.append((offset, entry.size, entry))
                offset += entry.size
        central = b"".join(directory)
        self._add(offset, central + _end_records(len(entries), offset, len(central)))
        self.length = self._segments[-1][0] + self._segments[-1][1]

    def _add(self, offset: int, data: bytes) -> None:
        self._segments.append((offset, len(data), data))

    def __len__(self) -> int:
        return self.length

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.length if end is None else min(end, self.length)
        for offset, length, part in self._segments:
            if offset + length <= start:
                continue
            if offset >= end:
                break
            first, last = max(start - offset, 0), min(end - offset, length)
            if isinstance(part, bytes):
                yield part[first:last]
            else:
                yield from part.read(first, last)
