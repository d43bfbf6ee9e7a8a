"""WSGI entry point for gunicorn and `manage.py runserver`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "archive.settings")

application = get_wsgi_application()

from archive.dbtimeout import bound_web_statements  # noqa: E402 - needs the settings loaded above

bound_web_statements()
