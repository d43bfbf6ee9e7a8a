"""The file store against a real S3 HTTP endpoint (moto server) and the local filesystem; the presigner."""

import datetime
import hashlib
import http.client
import io
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
import requests
import time_machine
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.filestore.local import LocalFileStore
from archive.filestore.presign import Presigner
from conftest import S3_CREDENTIALS


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
VERSION_IDS = [None, VERSION_ID, "0a6b4f0e-6b5e-4c47-9d0e-3f1b2c9c8f31", "odd/ver=sion id+é&?"]
# Keys whose path encoding must match botocore's: reserved and unreserved characters, UTF-8, empty and dot segments.
AWKWARD_KEYS = [
    "coj/kb05/20150219/processed/coj1m011-kb05-20150219-0125-e90.fits.fz",
    "odd/na me+with%chars~é.fits",
    "a//double/slash",
    "/leading/slash",
    "trailing/",
    "dots/./and/../segments",
    "reserved!*'();:@&=+$,?#[]",
    "unicode/日本語/ñandú/🔭.fits",
    "percent%2Fencoded%20already",
    'quote"back\\slash`^{}|<>',
    "tab\there and\nnewline",
    "tilde~under_score-dash.dot",
]
FROZEN = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.UTC)


def s3_client(endpoint=None, style="path", region="us-west-2", token=None, key_id="AKIDEXAMPLE", secret="secret"):
    return boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )


def botocore_url(client, bucket: str, key: str, version_id: str | None, expires: int) -> str:
    params = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    return client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def fetch(url: str, port: int) -> tuple[int, bytes]:
    """GET the URL exactly as written from the loopback server on that port, Host header included (requests would
    resolve the virtual host name and normalise dot segments)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers={"Host": parts.netloc})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class TestPresigner:
    @pytest.mark.parametrize(
        ("endpoint", "style", "region"),
        [
            (None, "virtual", "us-east-1"),
            (None, "virtual", "eu-central-1"),
            (None, "path", "ap-southeast-2"),
            ("http://127.0.0.1:9000", "path", "us-west-2"),
            ("https://s3.example.org", "path", "us-west-2"),
            ("https://S3.Example.org:443", "path", "eu-west-1"),
            ("http://storage.example.org:8080/prefix", "path", "us-west-2"),
            ("http://localhost:9000", "virtual", "eu-central-1"),
        ],
    )
    @pytest.mark.parametrize("token", [None, "temporary/session+token=="])
    def test_urls_equal_botocore_generate_presigned_url(self, endpoint, style, region, token):
        client = s3_client(endpoint, style, region, token)
        presigner = Presigner(client, "my-bucket")
        with time_machine.travel(FROZEN, tick=False):
            for key in AWKWARD_KEYS:
                for version_id in VERSION_IDS:
                    for expires in (3600, 60):
                        ours = presigner.url(key, version_id, expires)
                        assert ours == botocore_url(client, "my-bucket", key, version_id, expires), (key, version_id)
        assert ("X-Amz-Security-Token" in ours) == (token is not None)

    def test_urls_follow_the_clock_across_seconds_and_days(self):
        client = s3_client(region="eu-central-1", token="session-token")
        presigner = Presigner(client, "my-bucket")
        with time_machine.travel(datetime.datetime(2025, 12, 31, 23, 59, 58, tzinfo=datetime.UTC), tick=False) as t:
            for _ in range(3):
                ours = presigner.url(AWKWARD_KEYS[0], VERSION_ID, 3600)
                assert ours == botocore_url(client, "my-bucket", AWKWARD_KEYS[0], VERSION_ID, 3600)
                t.shift(datetime.timedelta(seconds=1))
        assert "X-Amz-Date=20260101T000000Z" in ours
        assert "%2F20260101%2Feu-central-1%2Fs3%2Faws4_request" in ours

    def test_refreshed_temporary_credentials_are_picked_up_within_the_second(self):
        def refresh():
            # botocore refreshes credentials in their last ten minutes on every use: the first three are issued so.
            issued.append(f"ASIA{len(issued) + 1}")
            lifetime = datetime.timedelta(minutes=5 if len(issued) < 4 else 60)
            expiry = datetime.datetime.now(datetime.UTC) + lifetime
            return {"access_key": issued[-1], "secret_key": "s", "token": f"t{len(issued)}", "expiry_time": str(expiry)}

        issued = []
        with time_machine.travel(FROZEN, tick=False):
            session = botocore.session.get_session()
            session._credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
            client = boto3.Session(botocore_session=session).client(
                "s3", region_name="us-west-2", config=Config(signature_version="s3v4")
            )
            presigner = Presigner(client, "my-bucket")  # its probe refreshes to ASIA2
            second = presigner.url("a/key.fits", VERSION_ID, 600)
            third = presigner.url("a/key.fits", VERSION_ID, 600)
            assert third == botocore_url(client, "my-bucket", "a/key.fits", VERSION_ID, 600)
        assert issued == ["ASIA1", "ASIA2", "ASIA3", "ASIA4"]
        assert "X-Amz-Credential=ASIA3%2F" in second and "X-Amz-Security-Token=t3&" in second
        assert "X-Amz-Credential=ASIA4%2F" in third and "X-Amz-Security-Token=t4&" in third

    def test_a_client_that_does_not_sign_with_sigv4_is_refused(self):
        client = boto3.client("s3", region_name="us-west-2", config=Config(signature_version=UNSIGNED))
        with pytest.raises(ValueError, match="SigV4"):
            Presigner(client, "my-bucket")

    @pytest.mark.parametrize("style", ["path", "virtual"])
    def test_presigned_urls_fetch_each_version_from_a_real_s3_endpoint(self, s3_bucket, style):
        port = urlsplit(s3_bucket["endpoint"]).port
        # moto takes the bucket from the Host header when the host is <bucket>.localhost.
        key_id, secret = S3_CREDENTIALS["AWS_ACCESS_KEY_ID"], S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        client = s3_client(f"http://localhost:{port}", style, key_id=key_id, secret=secret)
        presigner = Presigner(client, s3_bucket["name"])
        for key in AWKWARD_KEYS:
            if "\n" in key or (style == "virtual" and key.startswith("/")):
                continue  # moto cannot store a newline in a key, nor route a virtual host's //key (botocore's URL)
            old = s3_bucket["client"].put_object(Bucket=s3_bucket["name"], Key=key, Body=f"old {key}".encode())
            s3_bucket["client"].put_object(Bucket=s3_bucket["name"], Key=key, Body=f"new {key}".encode())
            assert fetch(presigner.url(key, old["VersionId"], 600), port) == (200, f"old {key}".encode()), key
            assert fetch(presigner.url(key, None, 600), port) == (200, f"new {key}".encode()), key


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
