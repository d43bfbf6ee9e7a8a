"""Proposal tags from the observation portal: they decide the public date of a server-side ingest (§7.5 step 4)."""

import hashlib
import logging
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.cache import cache

from archive.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

# An ingest waits on this call, so it is bounded; a tag changes rarely, so an hour's copy is fine (the ingester kept
# its answers for the life of the process).
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 10
CACHE_SECONDS = 3600


class PortalUnavailable(ServiceUnavailable):
    default_detail = "The observation portal cannot be reached to decide the public date; nothing was archived."


def is_configured() -> bool:
    return bool(settings.OBSERVATION_PORTAL_BASE_URL and settings.OBSERVATION_PORTAL_API_TOKEN)


def _cache_key(proposal_id: str) -> str:
    # Proposal ids may hold characters memcached keys cannot; the base URL keeps two portals apart.
    digest = hashlib.sha256(f"{settings.OBSERVATION_PORTAL_BASE_URL}\n{proposal_id}".encode()).hexdigest()
    return f"proposal-tags:{digest}"


def proposal_tags(proposal_id: str) -> list[str] | None:
    """The portal's tags of a proposal; None when the portal is not configured (both URL and token are needed).

    An HTTP error status means no tags, as the ingester read it; a portal that cannot be reached, or answers with
    something other than a proposal, raises PortalUnavailable (503): guessing would publish data too early.
    """
    if not is_configured():
        return None
    if not proposal_id:
        return []
    key = _cache_key(proposal_id)
    tags = cache.get(key)
    if tags is not None:
        return tags
    url = f"{settings.OBSERVATION_PORTAL_BASE_URL}/api/proposals/{quote(proposal_id, safe='')}"
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Token {settings.OBSERVATION_PORTAL_API_TOKEN}"},
            timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
        )
    except requests.RequestException as exc:
        logger.warning("Observation portal unreachable for proposal %s: %s", proposal_id, exc)
        raise PortalUnavailable() from exc
    if response.status_code >= 400:
        logger.info("Observation portal answered %s for proposal %s: no tags", response.status_code, proposal_id)
        if response.status_code < 500:  # an unknown proposal stays unknown; a failing portal may recover
            cache.set(key, [], CACHE_SECONDS)
        return []
    try:
        tags = response.json().get("tags") or []
        if not isinstance(tags, list):
            raise TypeError(f"tags is a {type(tags).__name__}, not a list")
        tags = [str(tag) for tag in tags]
    except (ValueError, AttributeError, TypeError) as exc:
        logger.warning("Observation portal gave an unreadable answer for proposal %s: %s", proposal_id, exc)
        raise PortalUnavailable("The observation portal gave an unreadable answer; nothing was archived.") from exc
    cache.set(key, tags, CACHE_SECONDS)
    return tags
