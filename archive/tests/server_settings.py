"""Settings of a real server process the tests start (gunicorn, as deployed): the test settings on the test
database, with production's persistent, health-checked connections."""

import os

from test_settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["ARCHIVE_TEST_DB_NAME"]  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# So that a test can find this server's connections, and only those.
DATABASES["default"]["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], "application_name": "archive-test-server"}  # noqa: F405
