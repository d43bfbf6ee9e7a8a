"""The datalab API as the front-end calls it: paths, bodies, response keys, errors, ownership and visibility."""

import pytest
from rest_framework.test import APIClient

from datalab.models import DataOperation, DataSession, OperationRun

pytestmark = pytest.mark.django_db

SESSION_KEYS = {"id", "name", "user", "input_data", "operations", "created", "accessed", "modified"}
OPERATION_KEYS = {
    "id",
    "name",
    "input_data",
    "created",
    "status",
    "message",
    "operation_progress",
    "output",
    "started",
    "finished",
}
MENU = [
    "Median",
    "Normalization",
    "Subtraction",
    "Stacking",
    "Color Image",
    "Light Curve",
    "Variable Star",
    "Aperture Photometry",
    "Non-Sidereal Aperture Photometry",
    "Moving Target Aperture Photometry",
]


def archive_item(frame, **extra) -> dict:
    """An archive item as the front-end sends it, URL and labels included."""
    return {
        "source": "archive",
        "basename": frame.basename,
        "id": frame.id,
        "url": "https://example.org/expired-link",
        "filter": frame.primary_optical_element,
        "target_name": frame.target_name,
        "observation_date": frame.observation_date.isoformat(),
        **extra,
    }


def make_session(client, frames=(), name="My session") -> dict:
    response = client.post(
        "/api/datasessions/", {"name": name, "input_data": [archive_item(f) for f in frames]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def assert_error(response, status: int, text: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == body["detail"]
    if text is not None:
        assert body["detail"] == text
    return body


def test_anonymous_is_refused():
    for path in ("/api/datasessions/", "/api/available_operations/"):
        assert APIClient().get(path).status_code == 401
    assert APIClient().post("/api/analysis/wcs/", {"basename": "x"}, format="json").status_code == 401


def test_available_operations_in_menu_order(observer_client):
    response = observer_client.get("/api/available_operations/")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(response.content))
    body = response.json()
    assert list(body) == MENU
    for name, description in body.items():
        assert set(description) == {"name", "description", "category", "inputs"}
        assert description["name"] == name
        assert description["category"] == "image"
    assert body["Median"]["inputs"]["input_files"] == {
        "name": "Input Files",
        "description": body["Median"]["inputs"]["input_files"]["description"],
        "type": "fits",
        "minimum": 2,
        "maximum": 100,
    }
    assert body["Color Image"]["inputs"]["color_channels"]["color_picker"] is True
    assert body["Light Curve"]["inputs"]["input_files"]["single_filter"] is True
    assert body["Light Curve"]["inputs"]["source"]["name_lookup"] is True


def test_session_life_cycle(observer_client, observer, stored_frame):
    first, second = stored_frame(), stored_frame()
    created = make_session(observer_client, [first, first])
    assert set(created) == SESSION_KEYS
    assert created["user"] == "observer"
    assert [item["basename"] for item in created["input_data"]] == [first.basename]  # duplicates collapse
    stored = DataSession.objects.get(pk=created["id"]).input_data
    assert "url" not in stored[0] and stored[0]["filter"] == first.primary_optical_element
    assert created["input_data"][0]["url"].startswith("http://testserver/download/")

    # The front-end sends the old list (with fresh URLs) plus new images: only new ones are appended.
    patched = observer_client.patch(
        f"/api/datasessions/{created['id']}/",
        {"name": "Renamed", "input_data": [archive_item(first, url="https://fresh"), archive_item(second)]},
        format="json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Renamed"
    assert [item["basename"] for item in patched.json()["input_data"]] == [first.basename, second.basename]

    listed = observer_client.get("/api/datasessions/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == created["id"]
    assert set(listed) == {"count", "next", "previous", "results"}

    # The front-end deletes without the trailing slash.
    assert observer_client.delete(f"/api/datasessions/{created['id']}").status_code == 204
    assert not DataSession.objects.exists()


def test_session_list_filters_and_ordering(observer_client, observer):
    for name in ("beta", "alpha", "gamma"):
        make_session(observer_client, name=name)
    names = [s["name"] for s in observer_client.get("/api/datasessions/?ordering=name").json()["results"]]
    assert names == ["alpha", "beta", "gamma"]
    assert observer_client.get("/api/datasessions/?name=AMM").json()["count"] == 1
    assert observer_client.get("/api/datasessions/?name_exact=alph").json()["count"] == 0
    assert observer_client.get("/api/datasessions/?user_exact=observ").json()["count"] == 0
    assert observer_client.get("/api/datasessions/?user_exact=observer").json()["count"] == 3


def test_session_time_filters_take_any_offset_and_refuse_the_calendars_edges(observer_client):
    """An offset PostgreSQL cannot store (beyond ±15:59) is converted to UTC before the query; a time an offset
    carries off the calendar is a 400 with a message, never a 500."""
    make_session(observer_client, name="now")
    later = observer_client.get("/api/datasessions/", {"created_after": "4810-08-05T14:13:17-19:47"})
    assert (later.status_code, later.json()["count"]) == (200, 0)
    earlier = observer_client.get("/api/datasessions/", {"modified_before": "4810-08-05T14:13:17-19:47"})
    assert (earlier.status_code, earlier.json()["count"]) == (200, 1)
    edge = observer_client.get("/api/datasessions/", {"accessed_after": "0001-01-01T00:00:00+05:00"})
    assert_error(
        edge, 400, "accessed_after: '0001-01-01T00:00:00+05:00' is outside the dates the archive can represent."
    )


def test_invisible_frame_is_not_found(observer_client, stored_frame):
    secret = stored_frame(public=False, proposal_id="OTHER-PROPOSAL")
    response = observer_client.post(
        "/api/datasessions/", {"name": "s", "input_data": [archive_item(secret)]}, format="json"
    )
    assert_error(response, 404, f"Frame {secret.basename} not found")


def test_other_users_session_is_not_found_everywhere(observer_client, stranger_client, stored_frame):
    frames = [stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    operation = observer_client.post(
        f"/api/datasessions/{session['id']}/operations/",
        {"name": "Median", "input_data": {"input_files": [archive_item(f) for f in frames]}},
        format="json",
    )
    assert operation.status_code == 201, operation.content
    base = f"/api/datasessions/{session['id']}"
    op_id = operation.json()["id"]
    calls = [
        ("get", f"{base}/", None),
        ("patch", f"{base}/", {"name": "mine now"}),
        ("delete", f"{base}/", None),
        ("get", f"{base}/operations/", None),
        ("post", f"{base}/operations/", {"name": "Median", "input_data": {"input_files": []}}),
        ("get", f"{base}/operations/{op_id}/", None),
        ("delete", f"{base}/operations/{op_id}/", None),
        ("post", f"{base}/operations/bulk_delete/", {"ids": [op_id]}),
    ]
    for method, path, body in calls:
        response = getattr(stranger_client, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
    assert DataOperation.objects.filter(pk=op_id).exists()
    assert stranger_client.get("/api/datasessions/").json()["count"] == 0


def test_operation_errors_say_what_to_change(observer_client, stored_frame):
    frame = stored_frame()
    session = make_session(observer_client, [frame])
    path = f"/api/datasessions/{session['id']}/operations/"

    def submit(name, input_data):
        return observer_client.post(path, {"name": name, "input_data": input_data}, format="json")

    assert_error(submit("Sharpen", {}), 400, "Unknown operation 'Sharpen'")
    assert_error(submit("Median", {"input_files": [archive_item(frame)]}), 400, "Median needs at least 2 input files.")
    assert_error(
        submit("Median", {"input_files": [archive_item(frame)] * 2, "alignment": "magic"}),
        400,
        "'alignment' must be one of wcs, none, not 'magic'.",
    )
    assert_error(submit("Median", {"input_files": [], "brightness": 3}), 400, "Median has no input 'brightness'.")
    missing = assert_error(observer_client.post(path, {"input_data": {}}, format="json"), 400)
    assert missing["fields"] == {"name": ["This field is required."]}
    assert missing["detail"] == "name: This field is required."
    ghost = {"source": "archive", "basename": "no-such-frame"}
    assert_error(submit("Median", {"input_files": [archive_item(frame), ghost]}), 404, "Frame no-such-frame not found")
    foreign = {"source": "datalab", "basename": "a" * 64}
    assert_error(
        submit("Median", {"input_files": [archive_item(frame), foreign]}), 404, f"Datalab product {'a' * 64} not found"
    )
    weird = {"source": "ftp", "basename": "x"}
    assert_error(submit("Median", {"input_files": [archive_item(frame), weird]}), 400, "Source ftp not recognized")
    assert not DataOperation.objects.exists()


def test_mixed_filters_refused_for_light_curves(observer_client, stored_frame):
    frames = [stored_frame(primary_optical_element="rp"), stored_frame(primary_optical_element="ip")]
    session = make_session(observer_client, frames)
    response = observer_client.post(
        f"/api/datasessions/{session['id']}/operations/",
        {
            "name": "Light Curve",
            "input_data": {"source": {"ra": 186.0, "dec": 12.0}, "input_files": [archive_item(f) for f in frames]},
        },
        format="json",
    )
    assert_error(response, 400, "Light Curve needs one filter for all input files, but got ip, rp.")


def test_operation_shape_dedupe_and_deletes(observer_client, observer, stored_frame):
    frames = [stored_frame(), stored_frame()]
    session = make_session(observer_client, frames)
    path = f"/api/datasessions/{session['id']}/operations/"
    body = {"name": "Median", "input_data": {"input_files": [archive_item(f) for f in reversed(frames)]}}
    first = observer_client.post(path, body, format="json")
    assert first.status_code == 201, first.content
    operation = first.json()
    assert set(operation) == OPERATION_KEYS
    # Inputs are echoed normalised: defaults applied, files sorted by basename, without URLs.
    assert operation["input_data"]["alignment"] == "wcs"
    assert [i["basename"] for i in operation["input_data"]["input_files"]] == sorted(f.basename for f in frames)
    assert all("url" not in item for item in operation["input_data"]["input_files"])

    # The same inputs with other URLs and labels share the run.
    relabelled = {"name": "Median", "input_data": {"input_files": [archive_item(f, url="x") for f in frames]}}
    second = observer_client.post(path, relabelled, format="json")
    assert second.status_code == 201
    assert OperationRun.objects.count() == 1

    listed = observer_client.get(path).json()
    assert [o["id"] for o in listed["results"]] == [operation["id"], second.json()["id"]]

    assert observer_client.put(f"{path}{operation['id']}/", body, format="json").status_code == 405
    assert observer_client.patch(f"{path}{operation['id']}/", body, format="json").status_code == 405

    assert_error(observer_client.post(f"{path}bulk_delete/", {"ids": "all"}, format="json"), 400)
    deleted = observer_client.post(f"{path}bulk_delete/", {"ids": [operation["id"], 999999]}, format="json")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": 1}
    assert observer_client.delete(f"{path}{second.json()['id']}/").status_code == 204
    assert not DataOperation.objects.exists()
    assert OperationRun.objects.count() == 1  # runs outlive their operations until housekeeping


def test_run_is_never_shared_with_a_user_who_cannot_see_its_inputs(observer_client, stranger_client, stored_frame):
    frames = [stored_frame(public=False), stored_frame(public=False)]
    session = make_session(observer_client, frames)
    body = {"name": "Median", "input_data": {"input_files": [archive_item(f) for f in frames]}}
    assert (
        observer_client.post(f"/api/datasessions/{session['id']}/operations/", body, format="json").status_code == 201
    )
    theirs = make_session(stranger_client)
    response = stranger_client.post(f"/api/datasessions/{theirs['id']}/operations/", body, format="json")
    assert_error(response, 404, f"Frame {frames[0].basename} not found")


def test_session_list_query_count_is_pinned(observer_client, stored_frame, django_assert_max_num_queries):
    frames = [stored_frame(), stored_frame()]
    for number in range(3):
        session = make_session(observer_client, frames, name=f"s{number}")
        body = {"name": "Median", "input_data": {"input_files": [archive_item(f) for f in frames]}}
        observer_client.post(f"/api/datasessions/{session['id']}/operations/", body, format="json")
    observer_client.get("/api/datasessions/")  # signs the products' URLs once
    with django_assert_max_num_queries(9):
        response = observer_client.get("/api/datasessions/")
    assert response.json()["count"] == 3
    session_id = response.json()["results"][0]["id"]
    with django_assert_max_num_queries(6):
        assert observer_client.get(f"/api/datasessions/{session_id}/operations/").status_code == 200
