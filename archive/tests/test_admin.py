"""Every model is in the admin, and every admin answers: its list, each of its filters' choices and the page of one
row, for a superuser. The rows come from MAKERS, one per registered model: a model registered later without a maker
fails `test_every_registered_model_has_a_row_maker` until one is added here."""

import datetime

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Point
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from authentication.models import AuthEvent
from datalab.models import CatalogStar, DataOperation, DataSession, OperationRun
from downtimes.models import DowntimeEvent
from downtimes.tests.factories import DowntimeFactory
from frames.models import AggregateSnapshot, FileDeletion, OutboxMessage
from frames.tests.factories import FrameFactory, HeadersFactory, ThumbnailFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("frames", "authentication", "downtimes", "datalab")
# Pages the admin deliberately does not have: a token's own page would show its key (the list masks it).
NO_CHANGE_PAGE = {"authtoken.TokenProxy"}


def _run(n: int = 0) -> OperationRun:
    return OperationRun.objects.create(key=f"{n:064d}", name="Test Quick", version=1, inputs={}, status="FAILED")


def _operation(superuser) -> DataOperation:
    now = timezone.now()
    session = DataSession.objects.create(user=superuser, name="A session", modified=now, accessed=now)
    return DataOperation.objects.create(session=session, name="Test Quick", input_data={}, run=_run(1))


def _frame():
    frame = FrameFactory()
    HeadersFactory(frame=frame)
    ThumbnailFactory(frame=frame)
    return frame


def _event(superuser):
    downtime = DowntimeFactory()
    return DowntimeEvent.objects.create(
        downtime_pk=downtime.pk,
        action="created",
        at=timezone.now(),
        user=superuser,
        username=superuser.username,
        via="admin",
    )


# One row of each registered model, made with what the row needs (`superuser` is the logged-in user).
MAKERS = {
    "auth.User": lambda superuser: superuser,
    "auth.Group": lambda superuser: Group.objects.create(name="archivists"),
    "authtoken.TokenProxy": lambda superuser: Token.objects.get(user=superuser),
    "authentication.AuthEvent": lambda superuser: AuthEvent.objects.create(
        kind="login", outcome="ok", method="admin", username=superuser.username, user=superuser
    ),
    "frames.Frame": lambda superuser: _frame(),
    "frames.Thumbnail": lambda superuser: ThumbnailFactory(),
    "frames.OutboxMessage": lambda superuser: OutboxMessage.objects.create(
        frame_id=1, exchange="archived_fits", message_id="1-abc", payload={}, next_attempt_at=timezone.now()
    ),
    "frames.FileDeletion": lambda superuser: FileDeletion.objects.create(
        store_path="a/b.fits.fz", version_key="v1", next_attempt_at=timezone.now()
    ),
    "frames.AggregateSnapshot": lambda superuser: AggregateSnapshot.objects.create(
        data={"sites": ["ogg"]}, generated_at=timezone.now()
    ),
    "downtimes.Downtime": lambda superuser: DowntimeFactory(),
    "downtimes.DowntimeEvent": _event,
    "datalab.DataSession": lambda superuser: _operation(superuser).session,
    "datalab.DataOperation": _operation,
    "datalab.OperationRun": lambda superuser: _run(),
    "datalab.CatalogStar": lambda superuser: CatalogStar.objects.create(
        source_id=4295806720, ra=44.99, dec=0.005, position=Point(44.99, 0.005, srid=4326), phot_g_mean_mag=12.3
    ),
}

REGISTERED = sorted(model._meta.label for model in admin.site._registry)


@pytest.fixture
def admin_client(superuser):
    client = Client()
    client.force_login(superuser, backend="authentication.backends.LocalAccountBackend")
    return client


def test_every_registered_model_has_a_row_maker():
    assert set(REGISTERED) == set(MAKERS)


def test_every_model_of_the_project_is_in_the_admin():
    """Registered, or shown as an inline of a registered model's page (a profile on its user's, headers and versions
    on their frame's)."""
    inlined = {inline.model for model_admin in admin.site._registry.values() for inline in model_admin.inlines}
    missing = [
        model._meta.label
        for app in PROJECT_APPS
        for model in apps.get_app_config(app).get_models()
        if model not in admin.site._registry and model not in inlined
    ]
    assert missing == []


def urls(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("label", REGISTERED)
def test_the_list_and_the_page_of_a_row_answer(admin_client, superuser, label):
    model = apps.get_model(label)
    row = MAKERS[label](superuser)
    changelist = admin_client.get(urls(model, "changelist"))
    assert changelist.status_code == 200
    # The primary key's column (DRF's TokenProxy answers `pk` with its user's id)
    key = model._meta.pk.attname
    assert getattr(row, key) in [getattr(listed, key) for listed in changelist.context["cl"].result_list]
    page = admin_client.get(urls(model, "change", getattr(row, key)))
    assert page.status_code == (403 if label in NO_CHANGE_PAGE else 200), page.content.decode()[:2000]


@pytest.mark.parametrize("label", REGISTERED)
def test_every_filter_choice_answers(admin_client, superuser, label):
    model = apps.get_model(label)
    MAKERS[label](superuser)
    path = urls(model, "changelist")
    changelist = admin_client.get(path).context["cl"]
    assert admin_client.get(f"{path}?q=x").status_code == 200
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if "query_string" in choice:
                response = admin_client.get(f"{path}{choice['query_string']}")
                # 200, not the admin's redirect to "?e=1" for parameters it could not apply
                assert response.status_code == 200, (spec.title, choice)


def test_the_date_filters_of_the_frames_list(admin_client):
    """A date filter's link picks the right frames (the generic test above only asks that it answers)."""
    today = FrameFactory(observation_date=timezone.now() - datetime.timedelta(minutes=5))
    FrameFactory(observation_date=timezone.now() - datetime.timedelta(days=400))
    changelist = admin_client.get("/admin/frames/frame/").context["cl"]
    (dates,) = [spec for spec in changelist.filter_specs if spec.title == "observation date"]
    (past_week,) = [choice for choice in dates.choices(changelist) if str(choice["display"]) == "Past 7 days"]
    listed = admin_client.get(f"/admin/frames/frame/{past_week['query_string']}").context["cl"].result_list
    assert [frame.pk for frame in listed] == [today.pk]
