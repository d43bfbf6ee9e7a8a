"""Zips laid out before their first byte: valid for zipfile and unzip, the same bytes whatever the ranges they are
read in, and Zip64 where sizes or offsets need it."""

import datetime
import io
import subprocess
import zipfile
import zlib

import pytest

from archive.ziplayout import Entry, StoredZip

MODIFIED = datetime.datetime(2024, 5, 1, 10, 30, 12, tzinfo=datetime.UTC)


def entry(name: str, data: bytes) -> Entry:
    return Entry(name, len(data), zlib.crc32(data), lambda start, end: [data[start:end]])


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a layout, read through `chunks` ranges (nothing held but what is asked)."""

    def __init__(self, layout: StoredZip):
        self.layout, self.position = layout, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.position = {0: offset, 1: self.position + offset, 2: len(self.layout) + offset}[whence]
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        data = b"".join(self.layout.chunks(self.position, self.position + len(buffer)))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


MEMBERS = {"dir/a.fits.fz": b"a" * 1000 + b"end", "dir/b.fits": bytes(range(256)) * 40, "dir/empty.txt": b"",
           "dir/ünïcode.txt": b"names in UTF-8\n"}  # fmt: skip


def test_the_archive_reads_back_with_zipfile_and_unzip(tmp_path):
    layout = StoredZip([entry(name, data) for name, data in MEMBERS.items()], modified=MODIFIED)
    whole = b"".join(layout.chunks())
    assert len(whole) == len(layout)
    with zipfile.ZipFile(io.BytesIO(whole)) as archive:
        assert archive.testzip() is None
        assert {info.filename: archive.read(info) for info in archive.infolist()} == MEMBERS
        assert archive.getinfo("dir/a.fits.fz").date_time == (2024, 5, 1, 10, 30, 12)
        assert archive.getinfo("dir/a.fits.fz").compress_type == zipfile.ZIP_STORED
    path = tmp_path / "archive.zip"
    path.write_bytes(whole)
    assert subprocess.run(["unzip", "-tq", str(path)], capture_output=True).returncode == 0


def test_any_ranges_join_into_the_same_bytes():
    layout = StoredZip([entry(name, data) for name, data in MEMBERS.items()], modified=MODIFIED)
    whole = b"".join(layout.chunks())
    for cut in (0, 1, 29, 30, 31, 500, len(whole) // 2, len(whole) - 22, len(whole) - 1, len(whole)):
        assert b"".join(layout.chunks(0, cut)) + b"".join(layout.chunks(cut)) == whole
    assert b"".join(layout.chunks(100, 200)) == whole[100:200]
    again = StoredZip([entry(name, data) for name, data in MEMBERS.items()], modified=MODIFIED)
    assert b"".join(again.chunks()) == whole  # a fixed function of its members


def test_a_member_past_four_gigabytes_gets_zip64_records():
    big_size = 2**32 + 1000
    zeros = bytes(1024 * 1024)
    crc = 0
    for _ in range(big_size // len(zeros)):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(big_size % len(zeros)), crc)

    def read_zeros(start: int, end: int):
        while start < end:
            step = min(end - start, len(zeros))
            yield zeros[:step]
            start += step

    small = b"after the big one"
    layout = StoredZip([Entry("big.fits", big_size, crc, read_zeros), entry("small.txt", small)], modified=MODIFIED)
    assert len(layout) > 2**32
    with zipfile.ZipFile(RangeFile(layout)) as archive:
        big = archive.getinfo("big.fits")
        assert (big.file_size, big.CRC) == (big_size, crc)
        assert archive.getinfo("small.txt").header_offset > 2**32  # an offset only Zip64 can hold
        assert archive.read("small.txt") == small
        with archive.open("big.fits") as member:
            assert member.read(10) == bytes(10)


@pytest.mark.parametrize("count", [0, 1])
def test_tiny_archives(count):
    layout = StoredZip([entry("only.txt", b"x")][:count], modified=MODIFIED)
    with zipfile.ZipFile(io.BytesIO(b"".join(layout.chunks()))) as archive:
        assert len(archive.infolist()) == count
