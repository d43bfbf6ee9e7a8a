"""The cache configurations, built in one place for the settings and for the tests that use a real memcached."""

# Short timeouts: a cache that does not answer must cost a request milliseconds, not seconds. `ignore_exc` turns a
# dead memcached into misses (throttles and memos then start afresh) instead of 500s.
MEMCACHED_OPTIONS = {"connect_timeout": 1, "timeout": 1, "no_delay": True, "ignore_exc": True}


def memcached_caches(location: str, **options: object) -> dict[str, dict[str, object]]:
    """CACHES for memcached at `location` (`host:port`), with the project's options (`options` override them)."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": location,
            "OPTIONS": {**MEMCACHED_OPTIONS, **options},
        }
    }


def local_memory_caches(name: str) -> dict[str, dict[str, object]]:
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name}}
