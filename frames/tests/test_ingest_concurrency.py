"""Concurrent ingests through a live server: one basename from eight clients, and frames naming each other."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.authtoken.models import Token

from frames.models import Frame, Version
from frames.tests.factories import ingest_body

pytestmark = pytest.mark.django_db(transaction=True)


def _post_all(url: str, token: str, bodies: list[dict]) -> list[int]:
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def post(body):
        return requests.post(f"{url}/frames/", data=json.dumps(body), headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_eight_concurrent_posts_of_one_basename(live_server, superuser):
    token = Token.objects.get(user=superuser).key
    body = ingest_body("coj1m011-kb05-20150219-0125-e90")
    statuses = _post_all(live_server.url, token, [body] * 8)
    assert statuses == [201] * 8
    assert Frame.objects.filter(basename=body["basename"]).count() == 1
    assert Version.objects.count() == 1


def test_concurrent_frames_that_name_each_other(live_server, superuser):
    token = Token.objects.get(user=superuser).key
    names = [f"frame-{i}" for i in range(8)]
    bodies = [ingest_body(name, related_frame_filenames=[n for n in names if n != name]) for name in names]
    statuses = _post_all(live_server.url, token, bodies)
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(201) == 8
    for frame in Frame.objects.filter(basename__in=names):
        assert frame.related_frames.count() == 7
