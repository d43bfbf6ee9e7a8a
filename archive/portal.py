"""The only client of the observation portal: password grant, profile fetch, timeouts and a circuit breaker."""

import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache

from archive.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "The observation portal cannot be reached; try again later."
RETRY_AFTER_SECONDS = 30
# Constants, not settings: after this many consecutive failures, calls fail at once for CIRCUIT_OPEN_SECONDS, so that
# an outage costs each request a cache read rather than a timeout.
CIRCUIT_FAILURES = 5
CIRCUIT_OPEN_SECONDS = 30
CIRCUIT_FAILURES_KEY = "portal:circuit:failures"
CIRCUIT_OPEN_KEY = "portal:circuit:open"
# Token-endpoint errors that mean the archive's OAuth client is misconfigured, not that the user typed a bad password.
CONFIGURATION_ERRORS = {"invalid_client", "unauthorized_client", "unsupported_grant_type"}


class PortalUnavailable(ServiceUnavailable):
    """The portal is unreachable, failing, misconfigured or answered nonsense: 503 through the exception handler."""

    default_detail = UNAVAILABLE_MESSAGE
    default_code = "portal_unavailable"

    def __init__(self, detail: str | None = None, retry_after: int | None = RETRY_AFTER_SECONDS) -> None:
        super().__init__(detail, retry_after=retry_after)


class PortalRejected(Exception):
    """The portal refused the credentials: wrong password, unknown or revoked token, inactive account."""


class MalformedProfile(ValueError):
    """A profile body that does not have the portal's shape; the message says what is wrong."""


@dataclass(frozen=True)
class PortalProfile:
    """The part of the portal's profile the archive reads (docs/authentication.md, "Profile endpoint")."""

    username: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    is_staff: bool = False
    is_superuser: bool = False
    staff_view: bool = False
    api_token: str = ""
    # None: the body had no `proposals`, which means "unknown, keep what is stored".
    proposals: tuple[str, ...] | None = None


def _string(data: dict, name: str, where: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedProfile(f"{where}{name} must be a string.")
    return value


def _boolean(data: dict, name: str, where: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedProfile(f"{where}{name} must be true or false.")
    return value


def _object(data: dict, name: str) -> dict:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedProfile(f"{name} must be an object.")
    return value


def parse_profile(data: Any) -> PortalProfile:
    """The portal's profile JSON (a push body or a profile response) as a PortalProfile; MalformedProfile if not.

    Missing (or null) strings are '', booleans false; a missing `proposals` is None. Types are checked strictly:
    a wrongly typed field is an error rather than a guess.
    """
    if not isinstance(data, dict):
        raise MalformedProfile("The body must be a JSON object.")
    username = data.get("username")
    if not isinstance(username, str) or not username.strip():
        raise MalformedProfile("username must be a non-empty string.")
    if len(username) > 150:
        raise MalformedProfile("username must be at most 150 characters.")
    profile = _object(data, "profile")
    tokens = _object(data, "tokens")
    proposals = None
    if data.get("proposals") is not None:
        if not isinstance(data["proposals"], list):
            raise MalformedProfile("proposals must be a list.")
        ids = []
        for item in data["proposals"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise MalformedProfile("Each proposal must be an object with a string id.")
            if len(item["id"]) > 255:
                raise MalformedProfile("A proposal id must be at most 255 characters.")
            if item["id"]:
                ids.append(item["id"])
        proposals = tuple(sorted(set(ids)))
    api_token = _string(tokens, "api_token", "tokens.")
    if len(api_token) > 255:
        raise MalformedProfile("tokens.api_token must be at most 255 characters.")
    return PortalProfile(
        username=username,
        first_name=_string(data, "first_name", "")[:150],
        last_name=_string(data, "last_name", "")[:150],
        email=_string(data, "email", "")[:254],
        is_staff=_boolean(data, "is_staff", ""),
        is_superuser=_boolean(data, "is_superuser", ""),
        staff_view=_boolean(profile, "staff_view", "profile."),
        api_token=api_token,
        proposals=proposals,
    )


# --- configuration and circuit state ----------------------------------------------------------------------------


def login_enabled() -> bool:
    return bool(settings.OAUTH_TOKEN_URL and settings.OAUTH_PROFILE_URL and settings.OAUTH_CLIENT_ID)


def profile_enabled() -> bool:
    return bool(settings.OAUTH_PROFILE_URL)


def circuit_state() -> str:
    """`disabled`, `ok` or `unavailable` (circuit open), without calling the portal."""
    if not profile_enabled():
        return "disabled"
    return "unavailable" if cache.get(CIRCUIT_OPEN_KEY) else "ok"


def _record_failure() -> None:
    # add-then-incr is atomic in memcached, so concurrent workers count every failure.
    cache.add(CIRCUIT_FAILURES_KEY, 0, timeout=3600)
    try:
        failures = cache.incr(CIRCUIT_FAILURES_KEY)
    except ValueError:  # the cache lost the key (or is down): count this one alone
        failures = 1
    if failures >= CIRCUIT_FAILURES:
        if not cache.get(CIRCUIT_OPEN_KEY):
            logger.warning(
                "Observation portal: %d consecutive failures, failing fast for %d s", failures, CIRCUIT_OPEN_SECONDS
            )
        cache.set(CIRCUIT_OPEN_KEY, True, timeout=CIRCUIT_OPEN_SECONDS)


def _record_success() -> None:
    cache.delete(CIRCUIT_FAILURES_KEY)


def _call(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One portal call with the timeout, through the circuit breaker; 5xx and network errors are PortalUnavailable."""
    if cache.get(CIRCUIT_OPEN_KEY):
        raise PortalUnavailable()
    timeout = settings.OAUTH_REQUESTS_TIMEOUT_SECONDS
    try:
        response = requests.request(method, url, timeout=(timeout, timeout), allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        logger.warning("Observation portal %s %s failed: %s", method, url, exc.__class__.__name__)
        _record_failure()
        raise PortalUnavailable() from exc
    if response.status_code >= 500:
        logger.warning("Observation portal %s %s answered %d", method, url, response.status_code)
        _record_failure()
        raise PortalUnavailable()
    _record_success()
    return response


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def password_grant(*, username: str, password: str) -> str:
    """The portal's access token for these credentials (OAuth password grant); PortalRejected if they are wrong."""
    response = _call(
        "POST",
        settings.OAUTH_TOKEN_URL,
        # Client credentials go in the body, never as HTTP Basic; the secret may be empty for a public client, but
        # is always sent because the portal checks it when present.
        data={
            "grant_type": "password",
            "username": username,
            "password": password,
            "client_id": settings.OAUTH_CLIENT_ID,
            "client_secret": settings.OAUTH_CLIENT_SECRET,
        },
        headers={"Accept": "application/json"},
    )
    body = _json(response)
    if 400 <= response.status_code < 500:
        error = body.get("error") if isinstance(body, dict) else None
        if error in CONFIGURATION_ERRORS:
            logger.error(
                "The observation portal refused the archive's OAuth client (%s): check OAUTH_CLIENT_ID, "
                "OAUTH_CLIENT_SECRET and the portal's application",
                error,
            )
            raise PortalUnavailable()
        raise PortalRejected()
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        logger.warning("Observation portal token endpoint answered %d without an access token", response.status_code)
        raise PortalUnavailable()
    return body["access_token"]


def fetch_profile(*, bearer: str | None = None, api_token: str | None = None) -> PortalProfile:
    """The portal's profile of the user a bearer or a portal API token belongs to; PortalRejected on 401/403."""
    if bearer is not None:
        authorization = f"Bearer {bearer}"
    elif api_token:
        authorization = f"Token {api_token}"
    else:
        raise ValueError("fetch_profile needs a bearer or an api_token")
    response = _call(
        "GET", settings.OAUTH_PROFILE_URL, headers={"Authorization": authorization, "Accept": "application/json"}
    )
    if response.status_code in (401, 403):
        raise PortalRejected()
    if response.status_code != 200:
        logger.warning("Observation portal profile endpoint answered %d", response.status_code)
        raise PortalUnavailable()
    try:
        return parse_profile(_json(response))
    except MalformedProfile as exc:
        logger.warning("Observation portal profile endpoint answered a malformed profile: %s", exc)
        raise PortalUnavailable() from None


# --- proposal tags (server-side ingest's public date: docs/frames.md, "Public date") --------------------------------
# An ingest waits on this call, so it has the portal timeout; tags change rarely, so an hour's copy is fine (the
# ingester kept its answers for the life of the process). This uses OBSERVATION_PORTAL_BASE_URL and its API token
# (the names of the ingester's settings), not the OAuth settings of logins.
PROPOSAL_TAGS_CACHE_SECONDS = 3600
TAGS_UNAVAILABLE = "The observation portal cannot be reached to decide the public date; nothing was archived."


def proposal_tags_configured() -> bool:
    return bool(settings.OBSERVATION_PORTAL_BASE_URL and settings.OBSERVATION_PORTAL_API_TOKEN)


def _proposal_tags_key(proposal_id: str) -> str:
    # Proposal ids may hold characters memcached keys cannot; the base URL keeps two portals apart.
    digest = hashlib.sha256(f"{settings.OBSERVATION_PORTAL_BASE_URL}\n{proposal_id}".encode()).hexdigest()
    return f"proposal-tags:{digest}"


def proposal_tags(proposal_id: str) -> list[str] | None:
    """The portal's tags of a proposal; None when the portal is not configured (both URL and token are needed).

    A 404 means no tags (the portal does not know the proposal); any other error status, a portal that cannot be
    reached, or an answer other than a proposal raises PortalUnavailable (503): guessing would publish data too
    early.
    """
    if not proposal_tags_configured():
        return None
    if not proposal_id:
        return []
    key = _proposal_tags_key(proposal_id)
    tags = cache.get(key)
    if tags is not None:
        return tags
    url = f"{settings.OBSERVATION_PORTAL_BASE_URL}/api/proposals/{quote(proposal_id, safe='')}"
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Token {settings.OBSERVATION_PORTAL_API_TOKEN}"},
            timeout=(settings.OAUTH_REQUESTS_TIMEOUT_SECONDS, settings.OAUTH_REQUESTS_TIMEOUT_SECONDS),
        )
    except requests.RequestException as exc:
        logger.warning("Observation portal unreachable for proposal %s: %s", proposal_id, exc)
        raise PortalUnavailable(TAGS_UNAVAILABLE) from exc
    if response.status_code == 404:  # the portal does not know the proposal: it has no tags
        logger.info("Observation portal does not know proposal %s: no tags", proposal_id)
        cache.set(key, [], PROPOSAL_TAGS_CACHE_SECONDS)
        return []
    if response.status_code >= 400:
        # Refused (an expired token: 401/403) or failing (5xx): the tags are unknown, not absent. Reading "no tags"
        # would let a private proposal's frames turn public after the usual delay.
        logger.warning("Observation portal answered %s for proposal %s", response.status_code, proposal_id)
        raise PortalUnavailable(
            f"The observation portal answered {response.status_code} when asked for proposal {proposal_id}'s tags, "
            "so its public date cannot be decided; nothing was archived."
        )
    try:
        tags = response.json().get("tags") or []
        if not isinstance(tags, list):
            raise TypeError(f"tags is a {type(tags).__name__}, not a list")
        tags = [str(tag) for tag in tags]
    except (ValueError, AttributeError, TypeError) as exc:
        logger.warning("Observation portal gave an unreadable answer for proposal %s: %s", proposal_id, exc)
        raise PortalUnavailable("The observation portal gave an unreadable answer; nothing was archived.") from exc
    cache.set(key, tags, PROPOSAL_TAGS_CACHE_SECONDS)
    return tags
