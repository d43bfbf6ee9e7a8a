"""POST /frames/: the ingester's bodies accepted as docs/frames.md describes them, idempotent, never a 500."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import token_client
from frames.models import Frame, Headers, Version
from frames.tests.factories import ingest_body
from frames.tests.shapes import RECORD_KEYS, record_read_back

pytestmark = pytest.mark.django_db


def post(client, body, path="/frames/"):
    return client.post(path, json.dumps(body) if not isinstance(body, str) else body, content_type="application/json")


def test_ingest_returns_the_record_shape(superuser_client):
    body = ingest_body()
    response = post(superuser_client, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert set(data) == RECORD_KEYS
    assert data["basename"] == body["basename"]
    assert data["filename"] == body["basename"] + ".fits.fz"
    assert data["url"] == data["version_set"][0]["url"]
    assert data["observation_date"] == "2015-02-19T13:56:05.261000Z"
    assert data["observation_day"] == "2015-02-19"
    assert data["observation_id"] == 53195954
    assert data["request_id"] == 296263
    assert data["exposure_time"] == 10.032415
    assert data["area"] == body["area"]
    assert set(data["version_set"][0]) == {"id", "key", "md5", "extension", "url", "created"}
    assert data["version_set"][0]["md5"] == body["version_set"][0]["md5"]


@pytest.mark.parametrize(
    "configuration_type", ["DARK", "BIAS", "STANDARD", "EXPERIMENTAL", "TRAILED", "EXPOSE", "GUIDE", "SKYFLAT"]
)
def test_ingester_configuration_types_are_accepted(superuser_client, configuration_type):
    response = post(superuser_client, ingest_body(f"x-{configuration_type}", configuration_type=configuration_type))
    assert response.status_code == 201, response.json()


def test_fourteen_ingests_are_counted_without_placeholders(superuser_client):
    for index in range(14):
        body = ingest_body(f"coj1m011-kb05-20150219-{index:04d}-e90", request_id=None if index % 2 else "00042")
        assert post(superuser_client, body).status_code == 201
    response = superuser_client.get("/frames/?force_count=1")
    assert response.json()["count"] == 14
    assert response.json()["count_estimated"] is False
    assert Frame.objects.filter(observation_date__isnull=True).count() >= 1  # the bias placeholder exists


def test_replay_adds_nothing(superuser_client):
    body = ingest_body()
    first = post(superuser_client, body)
    second = post(superuser_client, body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Frame.objects.filter(basename=body["basename"]).count() == 1
    assert Version.objects.count() == 1


def test_new_version_of_a_basename_is_kept_and_newest_gives_the_url(superuser_client):
    first = ingest_body()
    post(superuser_client, first)
    second = ingest_body()
    response = post(superuser_client, second)
    assert response.status_code == 201
    versions = response.json()["version_set"]
    assert [v["md5"] for v in versions] == [second["version_set"][0]["md5"], first["version_set"][0]["md5"]]
    assert response.json()["url"] == versions[0]["url"]


def test_duplicate_md5_on_another_frame_is_a_400(superuser_client):
    first = ingest_body("frame-a")
    post(superuser_client, first)
    second = ingest_body("frame-b", version_set=[{**first["version_set"][0], "key": "another-key"}])
    response = post(superuser_client, second)
    assert response.status_code == 400
    assert response.json() == {"version_set": [{"md5": ["version with this md5 already exists."]}]}
    assert not Frame.objects.filter(basename="frame-b").exists()


def test_duplicate_key_with_another_md5_is_a_400(superuser_client):
    first = ingest_body("frame-a")
    post(superuser_client, first)
    second = ingest_body("frame-b", version_set=[{**first["version_set"][0], "md5": "f" * 32}])
    response = post(superuser_client, second)
    assert response.status_code == 400
    assert response.json() == {"version_set": [{"key": ["version with this key already exists."]}]}


def test_lenient_values(superuser_client):
    body = ingest_body(
        observation_day="20150219",
        observation_date="3014-02-19 13:56:05",
        reduction_level="91",
        request_id="296263.0",
        exposure_time="12.5",
        target_name=None,
        related_frame_filenames=["coj1m011-kb05-20150219-0125-e90.fits.fz", "", "bias.fits", "bias.fits.fz"],
        unknown_key="ignored",
        frame_basename="ignored",
        id=123456,
    )
    response = post(superuser_client, body)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["observation_day"] == "2015-02-19"
    assert data["observation_date"] == "3014-02-19T13:56:05Z"
    assert data["reduction_level"] == 91
    assert data["request_id"] == 296263
    assert data["exposure_time"] == 12.5
    assert data["target_name"] == ""
    assert len(data["related_frames"]) == 1  # own basename, empties and duplicates dropped
    assert Frame.objects.get(pk=data["related_frames"][0]).basename == "bias"


def test_omitted_request_id_is_null(superuser_client):
    body = ingest_body()
    del body["request_id"]
    assert post(superuser_client, body).json()["request_id"] is None


def test_nan_and_infinity_become_null(superuser_client):
    text = json.dumps(ingest_body()).replace('"OBJECT": "M84"', '"OBJECT": NaN, "X": Infinity')
    response = post(superuser_client, text)
    assert response.status_code == 201, response.json()
    headers = Headers.objects.get(frame_id=response.json()["id"]).data
    assert headers["OBJECT"] is None and headers["X"] is None


def test_ra_above_180_is_echoed_and_stored_normalised(superuser_client):
    area = {"type": "Polygon", "coordinates": [[[350, -1], [10, -1], [10, 1], [350, 1], [350, -1]]]}
    response = post(superuser_client, ingest_body(area=area))
    assert response.json()["area"] == area
    frame = Frame.objects.get(pk=response.json()["id"])
    assert min(x for x, _ in frame.area.coords[0]) == -10


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"observation_date": "iamnotadate"}, "observation_date", None),
        ({"basename": None}, "basename", "This field may not be null."),
        ({"configuration_type": "NOTATYPE"}, "configuration_type", '"NOTATYPE" is not a valid choice.'),
        ({"area": {"type": "Point", "coordinates": [1, 2]}}, "area", None),
        ({"area": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}}, "area", None),
        ({"area": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 95], [0, 0]]]}}, "area", None),
        ({"version_set": [{"key": "k", "md5": "nothex", "extension": ".fits"}]}, "version_set", None),
        ({"site_id": "toolong"}, "site_id", None),
        ({"observation_day": "19-02-2015"}, "observation_day", None),
        ({"request_id": "abc"}, "request_id", "A valid integer is required."),
        ({"headers": ["not", "an", "object"]}, "headers", None),
        ({"basename": "a/b"}, "basename", None),
    ],
)
def test_bad_input_is_a_400_naming_the_field(superuser_client, change, field, message):
    response = post(superuser_client, ingest_body(**change))
    assert response.status_code == 400
    assert field in response.json()
    if message:
        assert response.json()[field] == [message]
    if field == "area":
        assert response.json()["area"][0].startswith("Invalid polygon: ")
    assert Frame.objects.count() == 0


def test_missing_basename_message(superuser_client):
    body = ingest_body()
    del body["basename"]
    response = post(superuser_client, body)
    assert response.status_code == 400
    assert response.json() == {"basename": ["This field is required."]}


def test_non_object_body_and_broken_json(superuser_client):
    response = post(superuser_client, "[1, 2]")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    response = post(superuser_client, "{broken")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


def test_only_superusers_ingest(api_client, make_user):
    response = post(api_client, ingest_body())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    staff = make_user("staffer", staff=True)
    assert post(token_client(staff), ingest_body()).status_code == 403


def test_ingest_statement_count_does_not_grow_with_the_body(superuser_client):
    small = ingest_body("small-frame", related_frame_filenames=["a"])
    post(superuser_client, ingest_body("warm-up"))
    with CaptureQueriesContext(connection) as small_queries:
        post(superuser_client, small)
    big = ingest_body(
        "big-frame",
        related_frame_filenames=[f"cal-{i}" for i in range(40)],
        headers={f"KEY{i}": i for i in range(300)},
    )
    with CaptureQueriesContext(connection) as big_queries:
        assert post(superuser_client, big).status_code == 201
    assert len(big_queries) == len(small_queries)
    assert len(big_queries) <= 15


def _assert_answers_the_stored_frame(response) -> None:
    assert response.status_code == 201, response.json()
    assert response.json() == record_read_back(response)


def test_the_201_body_is_the_stored_frame_in_every_case(superuser_client, monkeypatch):
    monkeypatch.setattr("frames.links.time.time", lambda: 1_700_000_000.0)  # links made apart stay equal
    # A calibration first known as a placeholder, named by a science frame, then ingested itself.
    science = ingest_body("science-1", related_frame_filenames=["bias-1.fits.fz", "flat-1.fits.fz"])
    _assert_answers_the_stored_frame(post(superuser_client, science))
    bias = ingest_body("bias-1", related_frame_filenames=["dark-1.fits.fz"], area=None)
    _assert_answers_the_stored_frame(response := post(superuser_client, bias))
    assert len(response.json()["related_frames"]) == 2  # the science frame's link and its own
    # A new version, then a replay, of a frame; fields absent from a body keep their stored values.
    _assert_answers_the_stored_frame(post(superuser_client, ingest_body("science-2", request_id="42")))
    second = ingest_body("science-2", related_frame_filenames=[])
    for name in ("request_id", "observation_id", "exposure_time", "reduction_level", "public_date", "area"):
        del second[name]
    _assert_answers_the_stored_frame(response := post(superuser_client, second))
    assert response.json()["request_id"] == 42 and len(response.json()["version_set"]) == 2
    _assert_answers_the_stored_frame(post(superuser_client, second))
    # Two versions in one body (one transaction, one creation time), and a body without any.
    two = ingest_body("science-3")
    two["version_set"].append({"key": "second-key", "md5": "a" * 32, "extension": ".fits"})
    _assert_answers_the_stored_frame(post(superuser_client, two))
    _assert_answers_the_stored_frame(response := post(superuser_client, ingest_body("science-4", version_set=[])))
    assert response.json()["url"] is None and response.json()["filename"] is None


def test_a_new_frame_is_written_once_and_a_known_one_updated(superuser_client):
    def frame_writes(body) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert post(superuser_client, body).status_code == 201
        frames = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO frames_frame ")]
        return ["upsert" if "DO UPDATE" in sql else "insert" for sql in frames]

    # New: one insert of the frame with its values (and of its unknown related names as placeholders).
    assert frame_writes(ingest_body("science", related_frame_filenames=["bias"])) == ["insert"]
    # A placeholder, then an archived frame: the insert finds it, and the upsert writes the body's fields.
    assert frame_writes(ingest_body("bias")) == ["insert", "upsert"]
    assert frame_writes(ingest_body("bias")) == ["insert", "upsert"]
    assert Frame.objects.get(basename="bias").observation_date is not None
