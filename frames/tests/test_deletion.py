"""Deleting frames: files go only after the commit, are kept on rollback, and failed deletions are retried."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from archive.filestore import FileStoreNotFound, get_filestore, reset_filestore
from conftest import token_client
from frames.deletion import file_deletions_process, frames_delete
from frames.models import FileDeletion, Frame, Headers, Thumbnail, Version
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory
from frames.tests.storedfiles import store_version


def stored(version) -> bool:
    try:
        get_filestore().size(version.store_path, version.key)
        return True
    except FileStoreNotFound:
        return False


@pytest.mark.django_db(transaction=True)
def test_delete_endpoint_removes_the_frame_and_then_its_files(superuser_client):
    frame = FrameFactory(version=False)
    first = store_version(frame, b"first")
    second = store_version(frame, b"second")
    HeadersFactory(frame=frame)
    ThumbnailFactory(frame=frame)
    placeholder = Frame.objects.create(basename="only-mine")
    shared = Frame.objects.create(basename="shared-calibration")
    other = FrameFactory()
    frame.related_frames.add(placeholder, shared)
    other.related_frames.add(shared)

    response = superuser_client.delete(f"/frames/{frame.id}/")
    assert response.status_code == 204
    assert not Frame.objects.filter(pk=frame.pk).exists()
    assert not Version.objects.filter(frame_id=frame.id).exists()
    assert not Headers.objects.filter(frame_id=frame.id).exists()
    assert not Thumbnail.objects.filter(frame_id=frame.id).exists()
    assert not Frame.objects.filter(pk=placeholder.pk).exists()  # unlinked placeholder goes
    assert Frame.objects.filter(pk=shared.pk).exists()  # still another frame's calibration
    assert not stored(first) and not stored(second)
    assert not FileDeletion.objects.exists()
    assert superuser_client.delete(f"/frames/{frame.id}/").status_code == 404


@pytest.mark.django_db
def test_only_superusers_delete(api_client, make_user):
    frame = FrameFactory()
    assert api_client.delete(f"/frames/{frame.id}/").status_code == 401
    assert token_client(make_user("staffer", staff=True)).delete(f"/frames/{frame.id}/").status_code == 403
    assert Frame.objects.filter(pk=frame.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_delete_keeps_every_file():
    frame = FrameFactory(version=False)
    version = store_version(frame, b"precious bytes")
    with pytest.raises(RuntimeError), transaction.atomic():
        frames_delete(frames=Frame.objects.filter(pk=frame.pk))
        raise RuntimeError("something later in the same transaction failed")
    assert Frame.objects.filter(pk=frame.pk).exists()
    assert stored(version)
    assert not FileDeletion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_file_deletion_is_retried(s3_bucket, settings):
    frame = FrameFactory(version=False)
    version = store_version(frame, b"on s3")
    endpoint = settings.S3_ENDPOINT_URL
    from conftest import free_port

    settings.S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # the store is unreachable during the delete
    settings.S3_MAX_ATTEMPTS = 1
    reset_filestore()
    frames_delete(frames=Frame.objects.filter(pk=frame.pk))
    row = FileDeletion.objects.get()
    assert row.attempts == 1 and row.last_error
    assert row.next_attempt_at > timezone.now()

    settings.S3_ENDPOINT_URL = endpoint
    reset_filestore()
    assert stored(version)
    FileDeletion.objects.update(next_attempt_at=timezone.now())
    assert file_deletions_process() == {"deleted": 1, "failed": 0}
    assert not stored(version)
    assert not FileDeletion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_delete_thumbnail_endpoint(superuser_client):
    thumbnail = ThumbnailFactory()
    key = get_filestore().put(thumbnail.store_path, io.BytesIO(b"jpeg"), md5="0" * 32, size=4)
    Thumbnail.objects.filter(pk=thumbnail.pk).update(key=key)
    assert superuser_client.delete(f"/thumbnails/{thumbnail.id}/").status_code == 204
    assert not Thumbnail.objects.exists()
    with pytest.raises(FileStoreNotFound):
        get_filestore().size(thumbnail.store_path, key)


def _frames_for_commands():
    old = timezone.now() - datetime.timedelta(days=400)
    return {
        "old-ogg": FrameFactory(observation_date=old, site_id="ogg", configuration_type="EXPOSE"),
        "old-coj-bias": FrameFactory(observation_date=old, site_id="coj", configuration_type="BIAS"),
        "new-ogg": FrameFactory(observation_date=timezone.now(), site_id="ogg"),
    }


@pytest.mark.django_db
def test_deleteframes_dry_run_and_filters(capsys):
    frames = _frames_for_commands()
    call_command("deleteframes", "--days-old", "365", "--dry-run")
    out = capsys.readouterr().out
    assert "Would delete 2 frames." in out
    assert frames["old-ogg"].basename in out
    assert Frame.objects.count() == 3
    call_command("deleteframes", "--days-old", "365", "--site", "OGG", "--batch-size", "1")
    assert set(Frame.objects.values_list("basename", flat=True)) == {
        frames["old-coj-bias"].basename,
        frames["new-ogg"].basename,
    }
    call_command("deleteframes", "--days-old", "365", "--exclude-types", "BIAS")
    assert Frame.objects.filter(pk=frames["old-coj-bias"].pk).exists()


@pytest.mark.django_db
def test_deleteframes_by_observing_day_bounds_are_exclusive():
    days = [datetime.date(2024, 5, d) for d in (1, 2, 3)]
    made = [FrameFactory(observation_day=day) for day in days]
    call_command("deleteframes", "--start", "2024-05-01", "--end", "2024-05-03")
    assert list(Frame.objects.order_by("observation_day").values_list("id", flat=True)) == [made[0].id, made[2].id]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--days-old", "3", "--start", "2024-01-01", "--end", "2024-02-01"],
        ["--start", "2024-01-01"],
        ["--start", "nope", "--end", "2024-01-01"],
        ["--start", "2024-02-01", "--end", "2024-01-01"],
    ],
)
def test_deleteframes_refuses_ambiguous_selections(args):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("deleteframes", *args)


@pytest.mark.django_db
def test_expireguideframes_keeps_the_persisted_cameras(settings, capsys):
    settings.GUIDE_CAMERAS_TO_PERSIST = ["nres-guide"]
    old = timezone.now() - datetime.timedelta(days=400)
    gone = FrameFactory(configuration_type="GUIDE", instrument_id="ef06", observation_date=old)
    kept = FrameFactory(configuration_type="GUIDE", instrument_id="nres-guide", observation_date=old)
    recent = FrameFactory(configuration_type="GUIDE", instrument_id="ef06", observation_date=timezone.now())
    science = FrameFactory(configuration_type="EXPOSE", observation_date=old)
    call_command("expireguideframes", "--dry-run")
    assert "Would delete 1 guide frames." in capsys.readouterr().out
    call_command("expireguideframes")
    remaining = set(Frame.objects.values_list("id", flat=True))
    assert gone.id not in remaining
    assert {kept.id, recent.id, science.id} <= remaining


@pytest.mark.django_db(transaction=True)
def test_admin_action_confirms_then_deletes_with_the_files(client, superuser):
    frame = FrameFactory(version=False)
    version = store_version(frame, b"admin deletes me")
    client.force_login(superuser)
    form = {"action": "delete_frames_and_files", "_selected_action": [frame.pk]}
    confirmation = client.post("/admin/frames/frame/", form)
    assert confirmation.status_code == 200
    assert b"Delete frames and their files?" in confirmation.content
    assert Frame.objects.filter(pk=frame.pk).exists()
    done = client.post("/admin/frames/frame/", {**form, "post": "yes"})
    assert done.status_code == 302
    assert not Frame.objects.filter(pk=frame.pk).exists()
    assert not stored(version)


@pytest.mark.django_db
def test_admin_pages_render(client, superuser):
    frame = FrameFactory()
    HeadersFactory(frame=frame)
    client.force_login(superuser)
    assert client.get("/admin/frames/frame/").status_code == 200
    assert client.get("/admin/frames/frame/?q=" + frame.basename).status_code == 200
    assert client.get(f"/admin/frames/frame/{frame.pk}/change/").status_code == 200
    assert client.get("/admin/frames/thumbnail/").status_code == 200
