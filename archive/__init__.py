"""The science archive's Django project package."""

from archive.celery import app as celery_app

__all__ = ("celery_app",)
