"""Request bodies are bounded before they are read: 413 with a JSON message on every parser path, the uploads'
own larger limit, and the web client's largest zip form accepted."""

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client

from conftest import token_client
from frames.tests.factories import FrameFactory

pytestmark = pytest.mark.django_db

HUGE = 20 * 1024 * 1024
PATHS = ["/frames/zip/", "/api-token-auth/", "/frames/", "/downtimes/api/", "/api/datasessions/"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("path", PATHS)
def test_oversized_bodies_are_refused_by_their_declared_length(path, content_type):
    response = Client().generic("POST", path, b"{}", content_type=content_type, CONTENT_LENGTH=str(HUGE))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "detail": f"The request body is {HUGE} bytes; at most 1048576 bytes are accepted here."
    }


def test_a_malformed_length_is_a_400():
    response = Client().generic("POST", "/frames/zip/", b"{}", content_type="application/json", CONTENT_LENGTH="lots")
    assert response.status_code == 400
    assert json.loads(response.content)["detail"] == "The Content-Length header is not a number."


def test_uploads_keep_their_own_limit(superuser, settings):
    settings.FRAME_UPLOAD_MAX_BYTES = 10 * 1024 * 1024
    client = token_client(superuser)
    response = client.generic(
        "POST", "/frames/upload/", b"", content_type="multipart/form-data; boundary=xyz", CONTENT_LENGTH=str(HUGE)
    )
    assert response.status_code == 413
    assert "upload is larger than the limit" in response.json()["detail"]


def test_the_answer_comes_before_the_body_is_sent(live_server):
    """Over a real socket: the server answers the headers alone, without waiting for (or reading) 20 MB."""
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        headers = (
            "POST /api-token-auth/ HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {HUGE}\r\n\r\n"
        )
        started = time.monotonic()
        connection.sendall(headers.encode() + b"username=x&password=")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"application/json" in answer
    assert time.monotonic() - started < 5


def test_the_web_clients_largest_zip_form_is_accepted(superuser, settings):
    frames = FrameFactory.create_batch(3)
    form = {f"frame_ids[{i}]": str(frames[i % 3].id) for i in range(settings.ZIP_DOWNLOAD_MAX_FILES)}
    from rest_framework.authtoken.models import Token

    form["auth_token"] = Token.objects.get(user=superuser).key
    response = Client().post("/frames/zip/", form)
    assert response.status_code == 200, response.content[:300]


def test_too_many_zip_ids_are_refused_before_parsing(settings):
    response = Client().post(
        "/frames/zip/",
        {"frame_ids": list(range(1, settings.ZIP_DOWNLOAD_MAX_FILES + 2))},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "A maximum of 1000 frames" in json.dumps(response.json())
