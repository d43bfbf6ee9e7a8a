"""The S3 store's errors as the archive reports them: a version id S3 cannot parse is not taken for "already
deleted", and the archive's own credentials failing is an outage (503), never a 500."""

import pytest
from botocore.stub import Stubber

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore, reset_filestore


@pytest.mark.django_db
def test_a_deletion_s3_refuses_as_invalid_is_kept_for_staff(s3_bucket):
    from frames.deletion import file_deletions_process
    from frames.models import FileDeletion

    store = get_filestore()
    row = FileDeletion.objects.create(
        store_path="a/b.fits", version_key="bad version", next_attempt_at="2000-01-01T00:00:00Z"
    )
    with Stubber(store.client) as stub:
        stub.add_client_error("delete_object", service_error_code="InvalidArgument", http_status_code=400)
        file_deletions_process()
    row.refresh_from_db()  # not dropped as if the object were already gone
    assert row.attempts == 1 and "InvalidArgument" in row.last_error
    with Stubber(store.client) as stub:
        stub.add_client_error("get_object", service_error_code="InvalidArgument", http_status_code=400)
        with pytest.raises(FileStoreNotFound):  # to a read, an unparsable version names nothing
            list(store.open("a/b.fits", "bad version"))


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"])
def test_refused_credentials_are_an_outage(s3_bucket, code):
    store = get_filestore()
    with Stubber(store.client) as stub:
        stub.add_client_error("head_object", service_error_code=code, http_status_code=403)
        with pytest.raises(FileStoreUnavailable) as refused:
            store.size("a/b.fits", "v1")
    assert "credentials" in str(refused.value.detail)


def test_presigning_without_credentials_is_an_outage(s3_bucket, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    reset_filestore()
    with pytest.raises(FileStoreUnavailable) as missing:
        get_filestore().url("a/b.fits", "v1", expires=60)
    assert "credentials" in str(missing.value.detail)
