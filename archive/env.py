"""Typed readers of environment variables, used only by archive/settings.py."""

import os

from django.core.exceptions import ImproperlyConfigured

from archive.params import FALSE_VALUES as FLAG_FALSE_VALUES
from archive.params import TRUE_VALUES

# The spellings of a flag are the query parameters' (archive.params); in the environment, a variable set empty is
# false too.
FALSE_VALUES = FLAG_FALSE_VALUES | {""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    """A comma list, stripped of spaces and of outer commas (the reference projects' convention)."""
    raw = os.environ.get(name, default)
    return [item for item in raw.strip(",").replace(" ", "").split(",") if item]
