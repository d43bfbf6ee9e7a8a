"""The file store against a real S3 HTTP endpoint (moto server) and the local filesystem; the presigner."""

import datetime
import hashlib
import io

import boto3
import pytest
import requests
import time_machine
from botocore.config import Config

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.filestore.local import LocalFileStore
from archive.filestore.presign import Presigner


def put(store, path: str, data: bytes) -> str:
    return store.put(path, io.BytesIO(data), md5=hashlib.md5(data).hexdigest(), size=len(data))


class TestS3Store:
    def test_versions_are_kept_and_each_is_readable_and_downloadable(self, s3_bucket, settings):
        store = get_filestore()
        assert store.kind == "s3"
        path = "coj/kb05/20150219/processed/coj1m011-kb05-20150219-0125-e90.fits.fz"
        first = put(store, path, b"first version bytes")
        second = put(store, path, b"second version, longer bytes")
        assert first != second
        assert b"".join(store.open(path, first)) == b"first version bytes"
        assert b"".join(store.open(path, second, byte_range=(0, 5))) == b"second"
        assert store.size(path, first) == len(b"first version bytes")
        old_url = store.url(path, first, expires=600)
        assert f"versionId={first}" in old_url
        assert requests.get(old_url, timeout=10).content == b"first version bytes"
        store.delete(path, first)
        with pytest.raises(FileStoreNotFound):
            store.size(path, first)
        assert b"".join(store.open(path, second)) == b"second version, longer bytes"
        assert store.check() == {"reachable": True, "versioning": True}

    def test_an_unreachable_endpoint_is_unavailable(self, settings, monkeypatch):
        from conftest import S3_CREDENTIALS, free_port

        for name, value in S3_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        settings.FILESTORE_TYPE = "s3"
        settings.AWS_BUCKET = "nowhere"
        settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
        settings.S3_MAX_ATTEMPTS = 1
        settings.S3_CONNECT_TIMEOUT_SECONDS = 1
        from archive.filestore import reset_filestore

        reset_filestore()
        with pytest.raises(FileStoreUnavailable):
            get_filestore().size("a/b.fits", "v1")


# An AWS-style version id, with characters that need quoting.
VERSION_ID = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"


class TestPresigner:
    @pytest.mark.parametrize(
        ("endpoint", "style"),
        [(None, "virtual"), ("http://127.0.0.1:9000", "path"), ("https://s3.example.org", "path")],
    )
    @pytest.mark.parametrize(
        "key", ["coj/kb05/20150219/processed/plain.fits.fz", "odd/na me+with%chars~é.fits", "a//double/slash"]
    )
    def test_urls_equal_botocore_generate_presigned_url(self, endpoint, style, key):
        client = boto3.client(
            "s3",
            region_name="us-west-2",
            endpoint_url=endpoint,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            aws_session_token="temporary-session-token",
            config=Config(signature_version="s3v4", s3={"addressing_style": style}),
        )
        with time_machine.travel(datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.UTC), tick=False):
            ours = Presigner(client, "my-bucket").url(key, VERSION_ID, 3600)
            theirs = client.generate_presigned_url(
                "get_object", Params={"Bucket": "my-bucket", "Key": key, "VersionId": VERSION_ID}, ExpiresIn=3600
            )
        assert ours == theirs
        assert "X-Amz-Security-Token" in ours


class TestLocalStore:
    def test_versions_are_kept_and_paths_are_confined(self, tmp_path):
        store = LocalFileStore(tmp_path)
        first = put(store, "a/b/c.fits", b"one")
        second = put(store, "a/b/c.fits", b"two")
        assert b"".join(store.open("a/b/c.fits", first)) == b"one"
        assert b"".join(store.open("a/b/c.fits", second, byte_range=(1, 2))) == b"wo"
        with pytest.raises(FileStoreNotFound):
            store.open("../../etc", "passwd")
        with pytest.raises(FileStoreNotFound):
            store.open("a/b/c.fits", "../c.fits")
        store.delete("a/b/c.fits", first)
        with pytest.raises(FileStoreNotFound):
            store.size("a/b/c.fits", first)
