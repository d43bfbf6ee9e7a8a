"""Settings of the Celery worker the datalab tests start: the test settings, on the test database, the test's
broker and directories, with short liveness timings (all given through the environment by the test)."""

import os

from test_settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["DATALAB_TEST_DB_NAME"]  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = os.environ["QUEUE_BROKER_URL"]
STORAGES["datalab"] = {  # noqa: F405
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": os.environ["DATALAB_PRODUCTS_ROOT"]},
}
FILESTORE_LOCAL_ROOT = Path(os.environ["FILESTORE_LOCAL_ROOT"])  # noqa: F405
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
LOGGING["root"]["level"] = "INFO"  # noqa: F405
