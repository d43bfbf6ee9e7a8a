"""The orjson renderer writes what DRF's own JSON renderer writes, and falls back to it where orjson cannot."""

import datetime
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers

from archive.renderers import JSONRenderer

DOCUMENT = {
    "id": 7,
    "basename": "ogg2m001-fs02-20261122-0042-e91",
    "exposure_time": 30.5,
    "ratio": 1 / 3,
    "none": None,
    "flags": [True, False],
    "unicode": "M 31 – Andromède ☄",
    "nested": {"list": [1, 2.25, "x"], "empty": {}},
    "created": datetime.datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=datetime.UTC),
    "day": datetime.date(2026, 11, 22),
    "time": datetime.time(12, 30),
    "duration": datetime.timedelta(hours=1, seconds=3),
    "decimal": decimal.Decimal("1.25"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy": gettext_lazy("This field is required."),
    "generator": (n for n in range(3)),
    1: "an integer key",
}


def drf_json(data, media_type=None, context=None):
    return json.loads(renderers.JSONRenderer().render(data, media_type, context or {}))


def test_same_json_as_drf(monkeypatch):
    expected = drf_json(dict(DOCUMENT, generator=iter(range(3))))
    # orjson writes it: DRF's renderer is not called.
    monkeypatch.setattr(renderers.JSONRenderer, "render", lambda *args: pytest.fail("fell back to DRF"))
    ours = JSONRenderer().render(dict(DOCUMENT, generator=iter(range(3))), "application/json", {})
    assert json.loads(ours) == expected
    # Compact, like DRF's default, and UTF-8 rather than escapes.
    assert b", " not in ours and b'": ' not in ours
    assert "Andromède".encode() in ours


def test_datetimes_are_written_as_drf_writes_them():
    when = datetime.datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=datetime.UTC)
    assert JSONRenderer().render({"t": when}) == b'{"t":"2026-11-22T03:04:05.678901Z"}'


def test_line_and_paragraph_separators_are_escaped():
    body = JSONRenderer().render({"s": "a\u2028b\u2029c"})
    assert b"\\u2028" in body and b"\\u2029" in body
    assert json.loads(body) == {"s": "a\u2028b\u2029c"}


def test_indent_and_what_orjson_refuses_go_to_drf():
    assert JSONRenderer().render({"a": 1}, "application/json; indent=4", {}) == b'{\n    "a": 1\n}'
    huge = 2**70
    assert json.loads(JSONRenderer().render({"n": huge})) == {"n": huge}


def test_nothing_renders_as_empty_body():
    assert JSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_the_api_answers_with_it(client):
    response = client.get("/frames/?limit=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["results"] == []
