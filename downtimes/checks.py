"""System checks of the downtimes app; none of them talks to configdb."""

from django.conf import settings
from django.core import checks


@checks.register()
def configdb_configured(app_configs, **kwargs):
    """downtimes.W001: without CONFIGDB_URL, downtime codes are checked for shape only.

    Reported while DEBUG is on (`make run`, where CONFIGDB_URL is empty by default). A deployment without configdb is
    a legitimate choice, and `check --deploy --fail-level WARNING` must pass for it.
    """
    if settings.CONFIGDB_URL or not settings.DEBUG:
        return []
    return [
        checks.Warning(
            "CONFIGDB_URL is not set: downtime site, enclosure, telescope and instrument type codes are checked for "
            "shape only, not against configdb.",
            hint="Set CONFIGDB_URL to the configuration database's base URL.",
            id="downtimes.W001",
        )
    ]
