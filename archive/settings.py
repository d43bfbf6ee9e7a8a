"""Settings of the science archive: the only module that reads the environment."""

import re
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from archive.cachesettings import local_memory_caches, memcached_caches
from archive.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Development only: a throw-away key per process keeps `DEBUG=true` usable without configuration.
    SECRET_KEY = "insecure-dev-" + secrets.token_hex(32)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
# Trusted reverse proxies in front of the app; 0 ignores X-Forwarded-For (archive/network.py).
NUM_PROXIES = env_int("NUM_PROXIES", 0)
if HTTPS_ONLY:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "authentication",
    "frames",
    "downtimes",
    "datalab",
    "vo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from gunicorn, before anything else reads the request: compressed, with hashed names
    # cached for a year (the manifest storage below).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "archive.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Refreshes the session user's stale proposals as the user is first read (authentication/middleware.py).
    "authentication.middleware.ProposalsRefreshMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Every request body but an upload's is refused above this size, before it is read (archive/middleware.py). A
# datalab session of 1,000 items or an ingest with its headers is a few hundred kB.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES

ROOT_URLCONF = "archive.urls"
WSGI_APPLICATION = "archive.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "archive.context_processors.branding",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------------
# With DB_HOST unset the project uses the embedded cluster that `make run` creates (scripts/localdb.sh).
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 600)
_db_host = env_str("DB_HOST")
if _db_host:
    _db = {
        "HOST": _db_host,
        "PORT": env_str("DB_PORT", "5432"),
        "NAME": env_str("DB_NAME", "archive"),
        "USER": env_str("DB_USER", "postgres"),
        "PASSWORD": env_str("DB_PASS"),
    }
else:
    _password_file = LOCAL_DIR / "db_password"
    _port_file = LOCAL_DIR / "db_port"  # written by scripts/localdb.sh when the default port was taken
    _db = {
        "HOST": "127.0.0.1",
        "PORT": env_str("LOCAL_DB_PORT", _port_file.read_text().strip() if _port_file.exists() else "54329"),
        "NAME": env_str("DB_NAME", "archive"),
        "USER": "archive",
        "PASSWORD": _password_file.read_text().strip() if _password_file.exists() else "",
    }
DATABASES = {
    "default": {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5},
        **_db,
    }
}
# Longest statement of a web request (gunicorn, runserver); workers and commands are not bounded.
WEB_STATEMENT_TIMEOUT_MS = env_int("WEB_STATEMENT_TIMEOUT_MS", 30000)
DB_HOST_READER = env_str("DB_HOST_READER")
if DB_HOST_READER:
    DATABASES["reader"] = {**DATABASES["default"], "HOST": DB_HOST_READER, "TEST": {"MIRROR": "default"}}
# Reads go to the reader alias when there is one; writes, and reads that must see them, to the writer.
DATABASE_ROUTERS = ["archive.routers.ReaderRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------------------------------
CACHE_LOC = env_str("CACHE_LOC")
CACHES = memcached_caches(CACHE_LOC) if CACHE_LOC else local_memory_caches("archive")

# --- Auth and the REST framework ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/api-auth/login/"
LOGIN_REDIRECT_URL = "/"

THROTTLE_ANON_RATE = env_str("THROTTLE_ANON_RATE", "1000/day")
THROTTLE_USER_RATE = env_str("THROTTLE_USER_RATE", "50000/day")

# Local accounts first; portal users have no usable local password and go on to the portal (docs/authentication.md).
AUTHENTICATION_BACKENDS = [
    "authentication.backends.LocalAccountBackend",
    "authentication.backends.PortalPasswordBackend",
]

REST_FRAMEWORK = {
    # The one list of authentication classes: every view uses it unless it has a reason not to (the push, zip).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "authentication.backends.PortalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "authentication.backends.PortalBearerAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # Rates come from THROTTLE_ANON_RATE and THROTTLE_USER_RATE (read by the classes at request time).
    "DEFAULT_THROTTLE_CLASSES": [
        "authentication.throttling.AnonRateThrottle",
        "authentication.throttling.StaffExemptUserRateThrottle",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": [
        "archive.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "archive.exceptions.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Science Archive API",
    "DESCRIPTION": "Frames, files, downtimes and data sessions of an observatory's science archive.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The portal's user push authenticates with a shared key rather than an authentication class.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "serverKey": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Server <OAUTH_SERVER_KEY>`: the observation portal's user push",
            }
        }
    },
}

# --- Internationalisation and static files ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Appearance -----------------------------------------------------------------------------------------------------
NAVBAR_TITLE_TEXT = env_str("NAVBAR_TITLE_TEXT", "Science Archive API")
NAVBAR_TITLE_URL = env_str("NAVBAR_TITLE_URL", "https://archive.lco.global")
TERMS_OF_SERVICE_URL = env_str("TERMS_OF_SERVICE_URL", "https://lco.global/policies/terms/")
DOCUMENTATION_URL = env_str("DOCUMENTATION_URL", "https://archive.lco.global/redoc/")
# Empty: no logo, so that the pages load nothing from another host unless a deployment asks for it.
LOGO_URL = env_str("LOGO_URL", "")

# --- File store -----------------------------------------------------------------------------------------------------
FILESTORE_TYPE = env_str("FILESTORE_TYPE", "local")
if FILESTORE_TYPE not in ("local", "s3"):
    raise ImproperlyConfigured(f"FILESTORE_TYPE must be 'local' or 's3', not {FILESTORE_TYPE!r}")
FILESTORE_LOCAL_ROOT = Path(env_str("FILESTORE_LOCAL_ROOT", str(LOCAL_DIR / "files"))).resolve()
AWS_BUCKET = env_str("AWS_BUCKET")
AWS_DEFAULT_REGION = env_str("AWS_DEFAULT_REGION", "us-west-2")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
S3_ADDRESSING_STYLE = env_str("S3_ADDRESSING_STYLE", "auto")
S3_CONNECT_TIMEOUT_SECONDS = env_int("S3_CONNECT_TIMEOUT_SECONDS", 5)
S3_READ_TIMEOUT_SECONDS = env_int("S3_READ_TIMEOUT_SECONDS", 60)
S3_MAX_ATTEMPTS = env_int("S3_MAX_ATTEMPTS", 3)
S3_DAYS_TO_IA_STORAGE = env_str("S3_DAYS_TO_IA_STORAGE", "60")
# Presigned and local download links: the reference's 48 hours, never more than S3's 7-day ceiling.
DOWNLOAD_URL_EXPIRY_SECONDS = min(env_int("DOWNLOAD_URL_EXPIRY_SECONDS", 172800), 604800)

# --- Messaging and background work ----------------------------------------------------------------------------------
QUEUE_BROKER_URL = env_str("QUEUE_BROKER_URL", "memory://")
PROCESSED_EXCHANGE_ENABLED = env_bool("PROCESSED_EXCHANGE_ENABLED", True)
PROCESSED_EXCHANGE_NAME = env_str("PROCESSED_EXCHANGE_NAME", "archived_fits")
NOTIFICATION_CONNECT_TIMEOUT_SECONDS = env_int("NOTIFICATION_CONNECT_TIMEOUT_SECONDS", 2)
NOTIFICATION_RETRY_MAX_SECONDS = env_int("NOTIFICATION_RETRY_MAX_SECONDS", 300)
CELERY_BROKER_URL = QUEUE_BROKER_URL
# Without a real broker (the embedded default) background work runs in-process.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", QUEUE_BROKER_URL.startswith("memory://"))
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- Observation portal and authentication (docs/authentication.md, "Configuration") -------------------------------
# Portal login needs the token URL, the profile URL and the client id; bearer auth and proposal refresh need the
# profile URL; the portal's user push needs the server key. All empty: local accounts only, no network.
OAUTH_CLIENT_ID = env_str("OAUTH_CLIENT_ID")
OAUTH_CLIENT_SECRET = env_str("OAUTH_CLIENT_SECRET")
OAUTH_TOKEN_URL = env_str("OAUTH_TOKEN_URL")
OAUTH_PROFILE_URL = env_str("OAUTH_PROFILE_URL")
OAUTH_SERVER_KEY = env_str("OAUTH_SERVER_KEY")
# Connect and read timeout of every portal call: a hung portal must not hold a worker for long.
OAUTH_REQUESTS_TIMEOUT_SECONDS = env_int("OAUTH_REQUESTS_TIMEOUT_SECONDS", 10)
OAUTH_PROPOSALS_TTL_SECONDS = env_int("OAUTH_PROPOSALS_TTL_SECONDS", 3600)
OAUTH_BEARER_CACHE_SECONDS = env_int("OAUTH_BEARER_CACHE_SECONDS", 300)
OAUTH_OUTAGE_GRACE_SECONDS = env_int("OAUTH_OUTAGE_GRACE_SECONDS", 86400)
# Failed logins per client address and per username, and bearers the portal rejected per address (DRF rate strings).
THROTTLE_LOGIN_ADDRESS_RATE = env_str("THROTTLE_LOGIN_ADDRESS_RATE", "50/hour")
THROTTLE_LOGIN_USERNAME_RATE = env_str("THROTTLE_LOGIN_USERNAME_RATE", "10/hour")
THROTTLE_AUTH_FAILURE_RATE = env_str("THROTTLE_AUTH_FAILURE_RATE", "300/hour")
AUTH_EVENT_RETENTION_DAYS = env_int("AUTH_EVENT_RETENTION_DAYS", 180)

# --- Configuration database -----------------------------------------------------------------------------------------
CONFIGDB_URL = env_str("CONFIGDB_URL").rstrip("/")
CONFIGDB_TIMEOUT_SECONDS = env_int("CONFIGDB_TIMEOUT_SECONDS", 10)
CONFIGDB_CACHE_SECONDS = env_int("CONFIGDB_CACHE_SECONDS", 900)
CONFIGDB_STALE_SECONDS = env_int("CONFIGDB_STALE_SECONDS", 604800)
CONFIGURATION_TYPES = env_list(
    "CONFIGURATION_TYPES",
    "BIAS,DARK,EXPOSE,SPECTRUM,LAMPFLAT,SKYFLAT,STANDARD,TRAILED,GUIDE,EXPERIMENTAL,CATALOG,BPM,TARGET,ARC,"
    "DOUBLE,TRACE,OBJECT,ENGINEERING,SCRIPT,NRES_BIAS,NRES_DARK,NRES_EXPOSE,NRES_TEST,AUTO_FOCUS,"
    "NRES_SPECTRUM,REPEAT_EXPOSE,REPEAT_SPECTRUM,FRAME_ARC,FLAT",
)
SCIENCE_CONFIGURATION_TYPES = env_list("SCIENCE_CONFIGURATION_TYPES", "EXPOSE,TARGET,SPECTRUM,CATALOG,OBJECT")

# --- Frames ---------------------------------------------------------------------------------------------------------
PAGINATION_DEFAULT_LIMIT = env_int("PAGINATION_DEFAULT_LIMIT", 100)
PAGINATION_MAX_LIMIT = env_int("PAGINATION_MAX_LIMIT", 1000)
# Deepest limit/offset page; beyond it, cursors (pagination_style=cursor).
PAGINATION_MAX_OFFSET = env_int("PAGINATION_MAX_OFFSET", 100000)
PAGINATION_EXACT_COUNT_THRESHOLD = env_int("PAGINATION_EXACT_COUNT_THRESHOLD", 10000)
PAGINATION_COUNT_TIMEOUT_MS = env_int("PAGINATION_COUNT_TIMEOUT_MS", 1500)
PAGINATION_FORCE_COUNT_TIMEOUT_MS = env_int("PAGINATION_FORCE_COUNT_TIMEOUT_MS", 5000)
# Most rows a frames list may sort for an ordering no index gives (exposure_time, target_name, ...), by the planner's
# estimate; more is a 400 that says how to narrow the search (docs/frames.md). Measured on the 2-core bench host over
# 1,000,000 frames, one core, LIMIT 101 with the page's columns: a date window's matches sort at 50,000 to 80,000 rows
# per 100 ms (the host's load moved it), frames spread over the table (one proposal's) two to three times slower, and
# estimates ran 15-20 % low. At 20,000 estimated (about 24,000 rows) a page took 30 ms (date window) to 65 ms (one
# proposal), up to 120 ms while the host was busy: about the 100 ms aimed at, whichever way the rows are found.
ORDERING_SORT_MAX_ROWS = env_int("ORDERING_SORT_MAX_ROWS", 20000)
CONE_SEARCH_MAX_RADIUS_DEGREES = float(env_str("CONE_SEARCH_MAX_RADIUS_DEGREES", "10"))
FRAME_UPLOAD_MAX_BYTES = env_int("FRAME_UPLOAD_MAX_BYTES", 1073741824)
ZIP_DOWNLOAD_FILENAME_BASE = env_str("ZIP_DOWNLOAD_FILENAME_BASE", "ocs_archive_data")
ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES = env_int("ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES", 10)
ZIP_DOWNLOAD_MAX_FILES = env_int("ZIP_DOWNLOAD_MAX_FILES", 1000)
# The largest zip, in bytes of its members whose sizes are known (a download by query is refused beyond it).
ZIP_DOWNLOAD_MAX_BYTES = env_int("ZIP_DOWNLOAD_MAX_BYTES", 50 * 1024**3)
# Newly archived files are read once for their size and CRC-32 (resumable zips): how often, and how many a sweep.
CHECKSUM_SWEEP_SECONDS = env_int("CHECKSUM_SWEEP_SECONDS", 60)
CHECKSUM_SWEEP_BATCH = env_int("CHECKSUM_SWEEP_BATCH", 500)
# The web client posts a zip as a form of one field per frame id, plus its token: room for the largest zip.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, ZIP_DOWNLOAD_MAX_FILES + 100)
GUIDE_CAMERAS_TO_PERSIST = env_list("GUIDE_CAMERAS_TO_PERSIST")
GUIDE_FRAME_EXPIRY_ENABLED = env_bool("GUIDE_FRAME_EXPIRY_ENABLED", False)
THUMBNAIL_SIZE_CHOICES = env_list("THUMBNAIL_SIZE_CHOICES", "small,medium,large")
AGGREGATES_REFRESH_SECONDS = env_int("AGGREGATES_REFRESH_SECONDS", 3600)

# Public-date rules of server-side ingest (ocs_archive's names and defaults).
PUBLIC_PROPOSALS = env_list("PUBLIC_PROPOSALS", "EPO,calib,standard,pointing")
PRIVATE_PROPOSALS = env_list("PRIVATE_PROPOSALS", "LCOEngineering")
PRIVATE_FILE_TYPES = env_list("PRIVATE_FILE_TYPES", "-t00,-x00")
DAYS_UNTIL_PUBLIC = env_int("DAYS_UNTIL_PUBLIC", 365)
CALIBRATION_TYPES = env_list("CALIBRATION_TYPES", "BIAS,DARK,SKYFLAT,EXPERIMENTAL")
OBSERVATION_PORTAL_BASE_URL = env_str("OBSERVATION_PORTAL_BASE_URL").rstrip("/")
OBSERVATION_PORTAL_API_TOKEN = env_str("OBSERVATION_PORTAL_API_TOKEN")
PRIVATE_PROPOSAL_TAGS = env_list("PRIVATE_PROPOSAL_TAGS", "private,internal")
PUBLIC_PROPOSAL_TAGS = env_list("PUBLIC_PROPOSAL_TAGS", "public")
REQUIRED_HEADERS = env_list("REQUIRED_HEADERS", "PROPID,DATE-OBS,DAY-OBS,INSTRUME,SITEID,TELID,OBSTYPE,BLKUID")
HEADER_BLACKLIST = env_list("HEADER_BLACKLIST", "HISTORY,COMMENT")
NULL_HEADER_VALUES = env_list("NULL_HEADER_VALUES", "N/A,UNSPECIFIED,UNKNOWN")
RELATED_FRAME_KEYS = env_list(
    "RELATED_FRAME_KEYS",
    "L1IDBIAS,L1IDDARK,L1IDFLAT,L1IDSHUT,L1IDMASK,L1IDFRNG,L1IDCAT,L1IDARC,L1ID1D,L1ID2D,L1IDSUM,TARFILE,ORIGNAME,"
    "ARCFILE,FLATFILE,GUIDETAR",
)

# --- Downtimes -----------------------------------------------------------------------------------------------------
DOWNTIMES_PAGE_SIZE = env_int("DOWNTIMES_PAGE_SIZE", 1000)
DOWNTIMES_MAX_LIMIT = env_int("DOWNTIMES_MAX_LIMIT", 10000)
DOWNTIMES_EXPORT_MAX_ROWS = env_int("DOWNTIMES_EXPORT_MAX_ROWS", 10000)
DOWNTIMES_ICS_PAST_DAYS = env_int("DOWNTIMES_ICS_PAST_DAYS", 30)
# Who may write: `authenticated` (the downtime service 2.4.4), `own` (creators and staff change their rows) or `staff`.
DOWNTIMES_WRITE_ACCESS = env_str("DOWNTIMES_WRITE_ACCESS", "own")
if DOWNTIMES_WRITE_ACCESS not in ("authenticated", "own", "staff"):
    raise ImproperlyConfigured(
        f"DOWNTIMES_WRITE_ACCESS must be authenticated, own or staff, not {DOWNTIMES_WRITE_ACCESS!r}"
    )
DOWNTIMES_BASIC_AUTH = env_bool("DOWNTIMES_BASIC_AUTH", True)
# The scheduler and every portal worker poll anonymously all day: their own scope, not the daily anonymous rate.
THROTTLE_DOWNTIMES_RATE = env_str("THROTTLE_DOWNTIMES_RATE", "300/minute").strip()
if THROTTLE_DOWNTIMES_RATE and not re.fullmatch(
    r"[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)", THROTTLE_DOWNTIMES_RATE
):
    raise ImproperlyConfigured(
        f"THROTTLE_DOWNTIMES_RATE must look like 300/minute (or be empty), not {THROTTLE_DOWNTIMES_RATE!r}"
    )

# --- Virtual Observatory (vo/, docs/vo.md) --------------------------------------------------------------------------
# The IVOID authority of every frame's publisher DID (ivo://<authority>/frames?<basename>); a deployment sets its own.
VO_AUTHORITY = env_str("VO_AUTHORITY", "archive.example.org").strip()
VO_COLLECTION = env_str("VO_COLLECTION", "archive").strip()
VO_DEFAULT_MAXREC = env_int("VO_DEFAULT_MAXREC", 1000)
# A larger MAXREC is clamped to this, not refused.
VO_MAX_MAXREC = env_int("VO_MAX_MAXREC", 10000)
VO_MAX_RADIUS_DEGREES = float(env_str("VO_MAX_RADIUS_DEGREES", "90"))
# Filter passbands added to or replacing the built-in table (vo/obscore.py): `name:min_nm:max_nm,...`; and
# `reduction_level:calib_level` pairs (unlisted levels are ObsCore level 2). Checked at start-up (vo/checks.py).
VO_FILTER_BANDS = env_str("VO_FILTER_BANDS", "")
VO_CALIB_LEVELS = env_str("VO_CALIB_LEVELS", "0:1")
VO_QUERY_TIMEOUT_MS = env_int("VO_QUERY_TIMEOUT_MS", 10000)
# The longest exposure: how far before a TIME window the date index is read.
VO_MAX_EXPOSURE_SECONDS = env_int("VO_MAX_EXPOSURE_SECONDS", 86400)
# HTTP Basic on /vo/ too: the one way TOPCAT and Aladin users reach proprietary frames.
VO_BASIC_AUTH = env_bool("VO_BASIC_AUTH", True)

# --- Datalab -------------------------------------------------------------------------------------------------------
DATALAB_OPERATION_BUCKET = env_str("DATALAB_OPERATION_BUCKET") or AWS_BUCKET
# Local directory of products when the file store is local (served through signed, expiring links).
DATALAB_PRODUCTS_ROOT = Path(env_str("DATALAB_PRODUCTS_ROOT", str(FILESTORE_LOCAL_ROOT / "datalab"))).resolve()
TEMP_FITS_DIR = Path(env_str("TEMP_FITS_DIR", str(Path(tempfile.gettempdir()) / "datalab"))).resolve()
FILECACHE_TOTAL_SIZE = env_int("FILECACHE_TOTAL_SIZE", 10 * 1024**3)
# Product URLs: a day by default, never beyond SigV4's seven days.
DATALAB_URL_EXPIRY_SECONDS = min(env_int("DATALAB_URL_EXPIRY_SECONDS", 86400), 604800)
DATALAB_TIME_LIMIT_SECONDS = env_int("DATALAB_TIME_LIMIT_SECONDS", 1500)
DATALAB_HEARTBEAT_SECONDS = env_int("DATALAB_HEARTBEAT_SECONDS", 30)
DATALAB_STALE_AFTER_SECONDS = env_int("DATALAB_STALE_AFTER_SECONDS", 120)
DATALAB_MAX_ATTEMPTS = env_int("DATALAB_MAX_ATTEMPTS", 3)
DATALAB_ORPHAN_RETENTION_DAYS = env_int("DATALAB_ORPHAN_RETENTION_DAYS", 7)
# The synchronous analysis actions read and render whole images: their own per-user rate.
# Modules beyond datalab/operations/ whose operations are offered too (a site's own, or the test suite's).
DATALAB_EXTRA_OPERATION_MODULES = env_list("DATALAB_EXTRA_OPERATION_MODULES")
THROTTLE_DATALAB_ANALYSIS_RATE = env_str("THROTTLE_DATALAB_ANALYSIS_RATE", "600/hour")
if FILESTORE_TYPE == "s3":
    _datalab_storage = {
        "BACKEND": "datalab.storage.ProductS3Storage",
        "OPTIONS": {
            "bucket_name": DATALAB_OPERATION_BUCKET,
            "region_name": AWS_DEFAULT_REGION,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "signature_version": "s3v4",
            "querystring_expire": DATALAB_URL_EXPIRY_SECONDS,
            "file_overwrite": True,
            "default_acl": None,
        },
    }
else:
    _datalab_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATALAB_PRODUCTS_ROOT},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, pre-compressed copies made by `collectstatic` (the image runs it at build time) and served by
    # whitenoise. With DEBUG on, templates name the plain files, so `make run` needs no collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "datalab": _datalab_storage,
}
# Datalab work has its own queue, so that long image operations never delay the archive's own tasks: a worker
# consumes both (`-Q celery,datalab`), or the datalab's alone on a machine of its own.
CELERY_TASK_ROUTES = {"datalab.*": {"queue": "datalab"}}

# --- Logging --------------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# gis.W001 is about GDAL opening raster files from untrusted sources; the archive never hands user input to GDAL
# rasters (footprints are GEOS geometries and FITS is read by astropy).
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- Periodic work (celery beat) ------------------------------------------------------------------------------------
CELERY_BEAT_SCHEDULE = {
    "cache-aggregates": {"task": "frames.cache_aggregates", "schedule": float(AGGREGATES_REFRESH_SECONDS)},
    "publish-outbox": {"task": "frames.publish_outbox", "schedule": 10.0},
    "process-file-deletions": {"task": "frames.process_file_deletions", "schedule": 60.0},
    "expire-guide-frames": {"task": "frames.expire_guide_frames", "schedule": 86400.0},
    "revalidate-portal-users": {"task": "authentication.revalidate_portal_users", "schedule": 86400.0},
    "purge-auth-events": {"task": "authentication.purge_auth_events", "schedule": 86400.0},
    "datalab-housekeeping": {"task": "datalab.housekeeping", "schedule": 300.0},
    "record-checksums": {"task": "frames.record_checksums", "schedule": float(CHECKSUM_SWEEP_SECONDS)},
}
