"""Settings of the test suite: the project's settings with fixed secrets, fast hashing and isolated stores."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "false")

from archive.cachesettings import local_memory_caches
from archive.settings import *  # noqa: F403

ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = local_memory_caches("tests")
FILESTORE_TYPE = "local"
FILESTORE_LOCAL_ROOT = Path(tempfile.mkdtemp(prefix="archive-test-files-"))  # noqa: F405
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CONFIGDB_URL = ""
# Persistent connections would outlive pytest-django's per-test transactions.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The suite renders templates (the browsable API, the admin) with DEBUG off and never runs collectstatic: the
# manifest storage of production would refuse every {% static %} that has no entry in a manifest. Plain storage
# names the files as they are, and whitenoise finds them in the apps as in development.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
