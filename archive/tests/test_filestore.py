"""The file store against a real S3 HTTP endpoint (moto server) and the local filesystem; the presigner."""

import datetime
import hashlib
import http.client
import io
import random
import string
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
import requests
import time_machine
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials, RefreshableCredentials
from botocore.exceptions import ClientError, CredentialRetrievalError

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.filestore.local import LocalFileStore
from archive.filestore.presign import Presigner
from archive.filestore.s3 import S3FileStore
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


# The property test's alphabet: what S3 keys and version ids may hold and the encodings treat apart. Unreserved ASCII
# (letters, digits, "-_.~": left as they are), reserved and other printable ASCII (percent-encoded, but "/" kept in
# the path), spaces and tabs, accented and CJK letters (UTF-8, two and three bytes) and emoji (four bytes).
PLAIN = string.ascii_letters + string.digits + "-_."
SPECIAL = " +%~/!*'();:@&=$,?#[]\"^`{}|<>\t"
UNICODE = "éñüßøÆΩλ€日本語望遠鏡"
EMOJI = "🔭🌌🪐🌠✨"
EXPIRIES = (1, 60, 900, 3600, 86400, 604800)
PROPERTY_CASES = 500
PROPERTY_SEED = 20250101


def random_text(rng: random.Random, length: int, max_bytes: int = 1024) -> str:
    """Mostly plain characters, with the others often enough that most strings hold several kinds."""
    kinds = rng.choices((PLAIN, SPECIAL, UNICODE, EMOJI), weights=(60, 25, 10, 5), k=length)
    text = "".join(rng.choice(kind) for kind in kinds)
    while len(text.encode()) > max_bytes:  # S3's limit on a key: 1024 bytes of UTF-8
        text = text[:-1]
    return text


def random_key(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return random_text(rng, rng.randint(300, 1024))  # long keys, cut at 1024 bytes
    return "/".join(random_text(rng, rng.randint(1, 20)) for _ in range(rng.randint(1, 6)))


def random_version_id(rng: random.Random) -> str | None:
    kind = rng.randrange(4)
    if kind == 0:
        return None
    if kind == 1:  # as AWS writes them
        return "".join(rng.choices(string.ascii_letters + string.digits + "._", k=32))
    if kind == 2:  # base64 with the characters a query value must encode
        return "".join(rng.choices(string.ascii_letters + string.digits + "+/=", k=64))
    return random_text(rng, rng.randint(1, 40))


def random_token(rng: random.Random) -> str:
    """An STS session token's shape: long base64, "+", "/" and "=" included."""
    return "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=rng.randint(100, 400))) + "=="


class FailingRefresh(CredentialProvider):
    """A credential provider whose temporary credentials expire after an hour and then cannot be renewed."""

    METHOD = "failing-refresh"

    def __init__(self, failure: Exception):
        self.failure = failure
        self.issued = 0

    def refresh(self) -> dict:
        if self.issued:
            raise self.failure
        self.issued += 1
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        return {"access_key": "ASIA1", "secret_key": "s", "token": "t1", "expiry_time": expiry.isoformat()}

    def load(self):
        return RefreshableCredentials.create_from_metadata(self.refresh(), self.refresh, self.METHOD)


def s3_client(endpoint=None, style="path", region="us-west-2", token=None, key_id="AKIDEXAMPLE", secret="secret"):
    """A client and the credentials it signs with, from one session, as the S3 store makes them."""
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token)
    client = session.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )
    return client, session.get_credentials()


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
        client, credentials = s3_client(endpoint, style, region, token)
        presigner = Presigner(client, "my-bucket", credentials)
        with time_machine.travel(FROZEN, tick=False):
            for key in AWKWARD_KEYS:
                for version_id in VERSION_IDS:
                    for expires in (3600, 60):
                        ours = presigner.url(key, version_id, expires)
                        assert ours == botocore_url(client, "my-bucket", key, version_id, expires), (key, version_id)
        assert ("X-Amz-Security-Token" in ours) == (token is not None)

    def test_urls_follow_the_clock_across_seconds_and_days(self):
        client, credentials = s3_client(region="eu-central-1", token="session-token")
        presigner = Presigner(client, "my-bucket", credentials)
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
            presigner = Presigner(client, "my-bucket", session.get_credentials())  # its probe refreshes to ASIA2
            second = presigner.url("a/key.fits", VERSION_ID, 600)
            third = presigner.url("a/key.fits", VERSION_ID, 600)
            assert third == botocore_url(client, "my-bucket", "a/key.fits", VERSION_ID, 600)
        assert issued == ["ASIA1", "ASIA2", "ASIA3", "ASIA4"]
        assert "X-Amz-Credential=ASIA3%2F" in second and "X-Amz-Security-Token=t3&" in second
        assert "X-Amz-Credential=ASIA4%2F" in third and "X-Amz-Security-Token=t4&" in third

    def test_urls_equal_botocore_generate_presigned_url_for_random_keys(self):
        """500 seeded random keys, version ids, expiries and instants, over both addressing styles, AWS's endpoints
        and others, with and without a session token."""
        rng = random.Random(PROPERTY_SEED)
        endpoints = [
            (None, "virtual"),
            (None, "path"),
            ("https://s3.example.org", "path"),
            ("http://localhost:9000", "virtual"),
        ]
        signers = []
        for endpoint, style in endpoints:
            for token in (None, random_token(rng)):
                region = rng.choice(["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"])
                key_id = "AKIA" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=16))
                secret = "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=40))
                client, credentials = s3_client(endpoint, style, region, token, key_id=key_id, secret=secret)
                signers.append(
                    (
                        f"{endpoint} {style} {region} token={token is not None}",
                        client,
                        Presigner(client, "my-bucket", credentials),
                    )
                )
        keys = []
        for case in range(PROPERTY_CASES):
            if case % 4 == 0:  # a few URLs in the same second, as a page signs them, then another instant
                instant = FROZEN + datetime.timedelta(seconds=rng.randrange(400 * 86400))
            name, client, presigner = signers[case % len(signers)]
            key, version_id, expires = random_key(rng), random_version_id(rng), rng.choice(EXPIRIES)
            with time_machine.travel(instant, tick=False):
                ours = presigner.url(key, version_id, expires)
                theirs = botocore_url(client, "my-bucket", key, version_id, expires)
            assert ours == theirs, (case, name, key, version_id, expires, instant)
            keys.append(key)
        # The sample holds what it is meant to try.
        assert all(any(char in key for key in keys) for char in " +%~/🔭日é")
        assert any(len(key.encode()) > 1000 for key in keys)

    @pytest.mark.parametrize(
        "failure",
        [
            CredentialRetrievalError(provider="container-role", error_msg="the metadata endpoint did not answer"),
            ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole"),
        ],
    )
    def test_credentials_that_fail_to_refresh_are_an_outage(self, settings, failure):
        settings.FILESTORE_TYPE = "s3"
        settings.AWS_BUCKET = "my-bucket"
        settings.S3_ENDPOINT_URL = ""
        provider = FailingRefresh(failure)
        botocore_session = botocore.session.get_session()
        botocore_session.register_component("credential_provider", CredentialResolver([provider]))
        with time_machine.travel(FROZEN, tick=False) as clock:
            store = S3FileStore(session=boto3.session.Session(botocore_session=botocore_session))
            assert "X-Amz-Credential=ASIA1%2F" in store.url("a/b.fits", "v1", expires=60)
            # Within botocore's mandatory refresh period (the last ten minutes) the refresh must succeed.
            clock.shift(datetime.timedelta(minutes=55))
            with pytest.raises(FileStoreUnavailable) as failed:
                store.url("a/b.fits", "v1", expires=60)
        assert "credentials" in str(failed.value.detail)
        assert failed.value.__cause__ is failure

    def test_a_client_that_does_not_sign_with_sigv4_is_refused(self):
        client = boto3.client("s3", region_name="us-west-2", config=Config(signature_version=UNSIGNED))
        with pytest.raises(ValueError, match="SigV4"):
            Presigner(client, "my-bucket", Credentials("AKIDEXAMPLE", "secret"))

    @pytest.mark.parametrize("style", ["path", "virtual"])
    def test_presigned_urls_fetch_each_version_from_a_real_s3_endpoint(self, s3_bucket, style):
        port = urlsplit(s3_bucket["endpoint"]).port
        # moto takes the bucket from the Host header when the host is <bucket>.localhost.
        key_id, secret = S3_CREDENTIALS["AWS_ACCESS_KEY_ID"], S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        client, credentials = s3_client(f"http://localhost:{port}", style, key_id=key_id, secret=secret)
        presigner = Presigner(client, s3_bucket["name"], credentials)
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
