"""Every stored file's size and CRC-32 are recorded once: while an upload is read, or afterwards by the periodic
sweep and the command, which also check each file against its md5."""

import io
import zlib

import pytest
from django.core.management import call_command

from archive.filestore import get_filestore
from frames import checksums
from frames.models import Version
from frames.tests.factories import FrameFactory
from frames.tests.storedfiles import store_version

pytestmark = pytest.mark.django_db


def stored(data: bytes, **fields) -> Version:
    return store_version(FrameFactory(version=False, **fields), data, size_known=False)


def test_the_sweep_records_size_and_crc32_of_unmeasured_files():
    first, second = stored(b"first file" * 100), stored(b"second" * 3)
    result = checksums.checksums_sweep()
    assert (result.measured, result.mismatched, result.unreadable) == (2, 0, 0)
    for version, data in ((first, b"first file" * 100), (second, b"second" * 3)):
        version.refresh_from_db()
        assert (version.size, version.crc32) == (len(data), zlib.crc32(data))
    assert checksums.checksums_sweep().measured == 0  # each file is read once


def test_a_file_that_no_longer_matches_its_md5_is_left_unmeasured(caplog):
    version = stored(b"original bytes")
    Version.objects.filter(pk=version.pk).update(md5="0" * 32)  # the store holds other bytes than were recorded
    result = checksums.checksums_sweep()
    assert (result.measured, result.mismatched) == (0, 1)
    assert Version.objects.get(pk=version.pk).crc32 is None
    assert "not the recorded" in caplog.text


def test_a_missing_file_is_counted_and_tried_again_later():
    version = stored(b"soon gone")
    get_filestore().delete(version.store_path, version.key)
    assert checksums.checksums_sweep().unreadable == 1
    assert Version.objects.get(pk=version.pk).crc32 is None


def test_the_command_measures_the_whole_archive_in_rounds():
    for n in range(7):
        stored(f"file {n}".encode() * 10)
    out = io.StringIO()
    call_command("record_checksums", "--batch", "3", stdout=out)
    assert "record_checksums: 3/7 files" in out.getvalue() and "record_checksums: 7/7 files" in out.getvalue()
    assert "Done in" in out.getvalue() and "7 recorded, 0 not matching their md5, 0 unreadable" in out.getvalue()
    assert not Version.objects.filter(crc32__isnull=True).exists()
