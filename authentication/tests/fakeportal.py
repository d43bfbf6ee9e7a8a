"""A fake observation portal on loopback: the OAuth token endpoint and the profile endpoint as an unmodified portal
answers them (docs/authentication.md, "The observation portal"), with switches for outages, and a record of every
request it received."""

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

TOKEN_PATH = "/o/token/"
PROFILE_PATH = "/api/profile/"


@dataclass
class PortalUser:
    username: str
    password: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    is_staff: bool = False
    is_superuser: bool = False
    staff_view: bool = False
    is_active: bool = True
    proposals: list[str] = field(default_factory=list)
    api_token: str = field(default_factory=lambda: secrets.token_hex(20))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        self.server.portal._handle(self)

    def do_POST(self):
        self.server.portal._handle(self)


class FakePortal:
    """A threaded HTTP server on a free loopback port (safe under pytest-xdist), configured per test.

    Switches: `fail_status` answers every request with that status; `hang` holds every request until the test
    ends (clients time out); `refuse()` closes the port; `reply` = (status, body bytes, content type) answers every
    request with that; `profile_edit` is a function that may change each profile body before it is sent;
    `bearer_accepts_inactive` lets bearers of deactivated users through (the real portal may).
    """

    def __init__(self, client_id: str = "archive-app", client_secret: str = "archive-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, PortalUser] = {}
        self.bearers: dict[str, str] = {}
        self.received: list[Received] = []
        self.fail_status: int | None = None
        self.hang = False
        self.reply: tuple[int, bytes, str] | None = None
        self.profile_edit = None
        self.bearer_accepts_inactive = False
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.portal = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        self._open = True

    # --- addresses ------------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def profile_url(self) -> str:
        return self.url + PROFILE_PATH

    # --- state --------------------------------------------------------------------------------------------------
    def add_user(self, username: str, password: str = "portal-pass-1", **fields) -> PortalUser:
        user = PortalUser(username=username, password=password, **fields)
        self.users[username] = user
        return user

    def issue_bearer(self, username: str) -> str:
        bearer = secrets.token_urlsafe(24)
        self.bearers[bearer] = username
        return bearer

    def rotate_api_token(self, username: str) -> str:
        self.users[username].api_token = secrets.token_hex(20)
        return self.users[username].api_token

    def profile_json(self, user: PortalUser) -> dict:
        """The profile body of an unmodified portal (values the archive does not read included)."""
        body = {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "available_instrument_types": ["1M0-SCICAM-SINISTRO"],
            "proposal_notifications": [],
            "profile": {
                "education_user": False,
                "notifications_enabled": False,
                "notifications_on_authored_only": False,
                "simple_interface": False,
                "view_authored_requests_only": False,
                "title": "",
                "staff_view": user.staff_view,
                "institution": "Example University",
                "api_quota": {"used": 0, "allowed": 5000},
                "terms_accepted": "2025-01-15T10:00:00Z",
                "sciencecollaborationallocation": None,
                "password_expiration": None,
            },
            "proposals": [
                {"id": proposal, "title": f"Proposal {proposal}", "current": index == 0}
                for index, proposal in enumerate(user.proposals)
            ],
            "tokens": {"api_token": user.api_token, "archive": secrets.token_urlsafe(16)},
        }
        if self.profile_edit is not None:
            body = self.profile_edit(body)
        return body

    def requests_to(self, path: str | None = None, method: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r for r in self.received if (path is None or r.path == path) and (method is None or r.method == method)
            ]

    def count(self, path: str | None = None) -> int:
        return len(self.requests_to(path))

    def reset_counts(self) -> None:
        with self._lock:
            self.received.clear()

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def refuse(self) -> None:
        """Stop listening: connections to the port are refused from now on."""
        if self._open:
            self._open = False
            self._release.set()
            self._server.shutdown()
            self._server.server_close()

    def close(self) -> None:
        self.refuse()

    # --- the endpoints ------------------------------------------------------------------------------------------
    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.received.append(Received(handler.command, path, dict(handler.headers.items()), body))
        if self.hang:
            self._release.wait(30)
            return
        if self.reply is not None:
            status, content, content_type = self.reply
            return self._send(handler, status, content, content_type)
        if self.fail_status is not None:
            return self._send(handler, self.fail_status, b"<html>Server Error</html>", "text/html")
        if path == TOKEN_PATH and handler.command == "POST":
            return self._token(handler, body)
        if path == PROFILE_PATH and handler.command == "GET":
            return self._profile(handler)
        return self._json(handler, 404, {"detail": "Not found."})

    def _token(self, handler, body: bytes):
        form = {key: values[0] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("client_id") != self.client_id:
            return self._json(handler, 401, {"error": "invalid_client"})
        # A public client's secret is not required, but is checked when one is sent (django-oauth-toolkit).
        if form.get("client_secret") and form["client_secret"] != self.client_secret:
            return self._json(handler, 401, {"error": "invalid_client"})
        if form.get("grant_type") != "password":
            return self._json(handler, 400, {"error": "unsupported_grant_type"})
        user = self.users.get(form.get("username", ""))
        if user is None:  # the portal also accepts the e-mail address as the username
            user = next((u for u in self.users.values() if u.email and u.email == form.get("username")), None)
        if user is None or user.password != form.get("password") or not user.is_active:
            error = {"error": "invalid_grant", "error_description": "Invalid credentials given."}
            return self._json(handler, 400, error)
        access = self.issue_bearer(user.username)
        return self._json(
            handler,
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 63072000,
                "scope": "read write",
                "refresh_token": secrets.token_urlsafe(24),
            },
        )

    def _profile(self, handler):
        scheme, _, credential = (handler.headers.get("Authorization") or "").partition(" ")
        user = None
        if scheme == "Bearer":
            username = self.bearers.get(credential)
            user = self.users.get(username) if username else None
            if user is not None and not user.is_active and not self.bearer_accepts_inactive:
                user = None
        elif scheme == "Token":
            user = next((u for u in self.users.values() if u.api_token == credential), None)
            if user is not None and not user.is_active:  # the portal's token check refuses inactive accounts
                user = None
        if user is None:
            return self._json(handler, 401, {"detail": "Invalid token."})
        return self._json(handler, 200, self.profile_json(user))

    def _json(self, handler, status: int, data) -> None:
        self._send(handler, status, json.dumps(data).encode(), "application/json")

    @staticmethod
    def _send(handler, status: int, content: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
