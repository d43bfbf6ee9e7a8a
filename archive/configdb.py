"""The one client of the configuration database: lazy, cached, with a timeout, a stale fallback and a back-off."""

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.core.cache import cache

from archive.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

FRESH_KEY = "configdb:{name}:fresh"
STALE_KEY = "configdb:{name}:stale"
BACKOFF_KEY = "configdb:{name}:backoff"
# After a failure nobody asks configdb again for this long: a configdb that hangs would otherwise cost every request
# the whole timeout, and a struggling one would be hammered by every worker at once.
BACKOFF_SECONDS = 60
# configdb pages by 1000 sites; 20 pages is far beyond any observatory, so more means a `next` loop.
MAX_SITE_PAGES = 20


class ConfigDBUnavailable(ServiceUnavailable):
    default_detail = "The configuration database cannot be reached; try again later."

    def __init__(self, detail: str | None = None, retry_after: int | None = BACKOFF_SECONDS) -> None:
        super().__init__(detail, retry_after=retry_after)


def _get_json(url: str) -> Any:
    try:
        response = requests.get(url, timeout=settings.CONFIGDB_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ConfigDBUnavailable(f"configdb: {exc.__class__.__name__} for {url}") from exc


def _url(path: str) -> str:
    return f"{settings.CONFIGDB_URL}/{path.lstrip('/')}"


def cached(name: str) -> Any:
    """The last fetched value of `name` (fresh, else stale), never asking configdb; None when nothing is cached."""
    value = cache.get(FRESH_KEY.format(name=name))
    if value is not None:
        return value
    stale = cache.get(STALE_KEY.format(name=name))
    return stale[1] if stale is not None else None


def cached_resource(name: str, fetch: Callable[[], T]) -> T:
    """The value of `fetch()`, fresh for CONFIGDB_CACHE_SECONDS; during an outage the last good copy serves for
    CONFIGDB_STALE_SECONDS. After a failure no new attempt is made for BACKOFF_SECONDS. Raises ConfigDBUnavailable
    when configdb cannot answer and nothing is cached."""
    value = cache.get(FRESH_KEY.format(name=name))
    if value is not None:
        return value
    backing_off = cache.get(BACKOFF_KEY.format(name=name)) is not None
    reason = "a recent failure (backing off)"
    if not backing_off:
        try:
            value = fetch()
        except ConfigDBUnavailable as exc:
            cache.set(BACKOFF_KEY.format(name=name), time.time(), BACKOFF_SECONDS)
            reason = str(exc.detail)
        else:
            cache.set(FRESH_KEY.format(name=name), value, settings.CONFIGDB_CACHE_SECONDS)
            cache.set(STALE_KEY.format(name=name), (time.time(), value), settings.CONFIGDB_STALE_SECONDS)
            cache.delete(BACKOFF_KEY.format(name=name))
            return value
    stale = cache.get(STALE_KEY.format(name=name))
    if not backing_off:  # one warning per failed attempt, not one per request served meanwhile
        if stale is not None:
            logger.warning(
                "configdb unreachable (%s); serving the copy of %s from %s for the next %d s",
                reason,
                name,
                time.ctime(stale[0]),
                BACKOFF_SECONDS,
            )
        else:
            logger.warning("configdb unreachable (%s) and no copy of %s is cached", reason, name)
    if stale is not None:
        return stale[1]
    raise ConfigDBUnavailable()


def _fetch_configuration_types() -> list[str]:
    data = _get_json(_url("/instruments/"))
    results = data.get("results", data) if isinstance(data, dict) else data
    types = set()
    for instrument in results or []:
        for config_type in (instrument.get("instrument_type") or {}).get("configuration_types") or []:
            code = config_type.get("code") if isinstance(config_type, dict) else config_type
            if code:
                types.add(str(code).upper())
    return sorted(types)


def configuration_types() -> frozenset[str]:
    """Configuration types known to configdb, or CONFIGURATION_TYPES when configdb is not configured or down."""
    fallback = frozenset(settings.CONFIGURATION_TYPES)
    if not settings.CONFIGDB_URL:
        return fallback
    try:
        return frozenset(cached_resource("configuration_types", _fetch_configuration_types)) or fallback
    except ConfigDBUnavailable:
        logger.warning("configdb unreachable and nothing cached; using CONFIGURATION_TYPES")
        return fallback


def _coded(items: Any) -> list[dict[str, Any]]:
    """The entries of a nested configdb list that carry a code; entries without one describe nothing we can use."""
    return [
        item for item in items or [] if isinstance(item, dict) and isinstance(item.get("code"), str) and item["code"]
    ]


def _instrument_type_code(instrument: Any) -> str | None:
    if not isinstance(instrument, dict):
        return None
    instrument_type = instrument.get("instrument_type")
    code = instrument_type.get("code") if isinstance(instrument_type, dict) else instrument_type
    return code if isinstance(code, str) and code else None


def _site(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("code"), str) or not raw["code"]:
        raise ConfigDBUnavailable("configdb: a site without a code")
    return {
        "code": raw["code"],
        "enclosures": [
            {
                "code": enclosure["code"],
                "telescopes": [
                    {
                        "code": telescope["code"],
                        # Instrument state is ignored on purpose: a downtime for a disabled instrument is legitimate.
                        "instrument_types": sorted(
                            {code for code in map(_instrument_type_code, telescope.get("instrument_set") or []) if code}
                        ),
                    }
                    for telescope in _coded(enclosure.get("telescope_set"))
                ],
            }
            for enclosure in _coded(raw.get("enclosure_set"))
        ],
    }


def _fetch_sites() -> list[dict[str, Any]]:
    url = _url("/sites/")
    sites: list[dict[str, Any]] = []
    for _ in range(MAX_SITE_PAGES):
        data = _get_json(url)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ConfigDBUnavailable(f"configdb: {url} did not answer a list of results")
        sites.extend(_site(raw) for raw in data["results"])
        next_url = data.get("next")
        if not next_url:
            return sites
        url = next_url
    raise ConfigDBUnavailable(f"configdb: /sites/ has more than {MAX_SITE_PAGES} pages")


def sites(*, cached_only: bool = False) -> list[dict[str, Any]] | None:
    """configdb's sites as `[{"code", "enclosures": [{"code", "telescopes": [{"code", "instrument_types"}]}]}]`.

    None when CONFIGDB_URL is not set, or with `cached_only` when nothing is cached (no request is made then).
    Raises ConfigDBUnavailable when configdb cannot answer and no copy is cached. An empty list is a valid answer.
    """
    if not settings.CONFIGDB_URL:
        return None
    if cached_only:
        return cached("sites")
    return cached_resource("sites", _fetch_sites)
