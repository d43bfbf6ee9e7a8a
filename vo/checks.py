"""Start-up checks of the VO settings: a malformed passband or calibration table stops the server with the entry."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks

from vo.obscore import parse_calib_levels, parse_filter_bands


@checks.register()
def vo_tables(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors = []
    for parse, value, code in (
        (parse_filter_bands, settings.VO_FILTER_BANDS, "vo.E001"),
        (parse_calib_levels, settings.VO_CALIB_LEVELS, "vo.E002"),
    ):
        try:
            parse(value)
        except ValueError as exc:
            errors.append(checks.Error(str(exc), id=code))
    return errors
