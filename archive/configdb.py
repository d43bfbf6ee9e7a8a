"""The one client of the configuration database: lazy, cached, with a timeout and a stale fallback."""

import logging
import time

import requests
from django.conf import settings
from django.core.cache import cache

from archive.exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

FRESH_KEY = "configdb:{name}:fresh"
STALE_KEY = "configdb:{name}:stale"


class ConfigDBUnavailable(ServiceUnavailable):
    default_detail = "The configuration database cannot be reached; try again later."


def _get_json(path: str):
    url = f"{settings.CONFIGDB_URL}/{path.lstrip('/')}"
    try:
        response = requests.get(url, timeout=settings.CONFIGDB_TIMEOUT_SECONDS)
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ConfigDBUnavailable() from exc


def cached_resource(name: str, fetch):
    """The value of `fetch()`, fresh for CONFIGDB_CACHE_SECONDS; during an outage the last good copy serves for
    CONFIGDB_STALE_SECONDS. Raises ConfigDBUnavailable when configdb is down and nothing is cached."""
    value = cache.get(FRESH_KEY.format(name=name))
    if value is not None:
        return value
    try:
        value = fetch()
    except ConfigDBUnavailable:
        stale = cache.get(STALE_KEY.format(name=name))
        if stale is not None:
            logger.warning("configdb unreachable; serving the copy of %s from %s", name, time.ctime(stale[0]))
            return stale[1]
        raise
    cache.set(FRESH_KEY.format(name=name), value, settings.CONFIGDB_CACHE_SECONDS)
    cache.set(STALE_KEY.format(name=name), (time.time(), value), settings.CONFIGDB_STALE_SECONDS)
    return value


def _fetch_configuration_types() -> list[str]:
    data = _get_json("/instruments/")
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
