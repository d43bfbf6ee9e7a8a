"""Background work of the authentication app: per-user portal rechecks, the daily revalidation, the audit purge."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from authentication import services

logger = logging.getLogger(__name__)


@shared_task(name="authentication.portal_user_refresh", ignore_result=True)
def portal_user_refresh(user_id: int) -> None:
    """Recheck one user's portal token after a push: how a deactivation at the portal reaches the archive."""
    user = get_user_model().objects.select_related("profile").filter(pk=user_id).first()
    if user is not None:
        services.proposals_refresh(user=user, force=True)


@shared_task(name="authentication.revalidate_portal_users", ignore_result=True)
def revalidate_portal_users() -> None:
    count = services.portal_users_revalidate()
    logger.info("Revalidated %d portal users", count)


@shared_task(name="authentication.purge_auth_events", ignore_result=True)
def purge_auth_events() -> None:
    deleted = services.auth_events_purge()
    logger.info("Purged %d authentication events", deleted)
