"""The frames admin's queues of owed work (outbox messages, file deletions): viewable, never added or deleted."""

import datetime

import pytest
from django.utils import timezone

from frames.models import FileDeletion, OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_rows():
    due = timezone.now() + datetime.timedelta(minutes=5)
    return {
        "outboxmessage": OutboxMessage.objects.create(
            frame_id=1, exchange="archived_fits", message_id="1-abc", payload={"basename": "x"}, next_attempt_at=due
        ),
        "filedeletion": FileDeletion.objects.create(store_path="a/b.fits.fz", version_key="v1", next_attempt_at=due),
    }


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    return client


@pytest.mark.parametrize("model", ["outboxmessage", "filedeletion"])
def test_owed_work_is_viewable_but_never_added_or_deleted(admin_client, pending_rows, model):
    row = pending_rows[model]
    changelist = admin_client.get(f"/admin/frames/{model}/")
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert admin_client.get(f"/admin/frames/{model}/{row.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/frames/{model}/{row.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/frames/{model}/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(
        f"/admin/frames/{model}/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert type(row).objects.filter(pk=row.pk).exists()
    assert admin_client.get(f"/admin/frames/{model}/add/").status_code == 403
