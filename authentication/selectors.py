"""Reads about users: the proposals that open proprietary frames to them, and the user behind an API key."""

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from authentication.models import Profile


def profile_of(user) -> Profile | None:
    """The user's profile, from the user object when a join already loaded it; None if the user has none."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def proposals_are_stale(profile: Profile, now: datetime.datetime | None = None) -> bool:
    fetched = profile.proposals_fetched_at
    if fetched is None:
        return True
    now = now or timezone.now()
    return (now - fetched).total_seconds() >= settings.OAUTH_PROPOSALS_TTL_SECONDS


def user_proposals(*, user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """Proposal ids for visibility and /profile/ (spec §6), computed once per request and kept on the user object.

    Superusers: every proposal with frames (no portal call). Local accounts: the list staff set in the admin.
    Portal-linked users: the stored list, refreshed from the portal when older than OAUTH_PROPOSALS_TTL_SECONDS;
    a list never fetched counts as empty until the portal answers.
    """
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_archive_proposals", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        from frames.selectors import all_proposal_ids

        proposals = [proposal for proposal in all_proposal_ids() if proposal]
    else:
        proposals = _profile_proposals(user)
    user._archive_proposals = proposals
    return proposals


def _profile_proposals(user) -> list[str]:
    profile = profile_of(user)
    if profile is None:
        return []
    if profile.portal_linked:
        if proposals_are_stale(profile):
            from authentication.services import proposals_refresh

            profile = proposals_refresh(user=user, profile=profile)
        if profile.proposals_fetched_at is None:
            return []
    # Empty ids are dropped: they would open frames without a proposal (calibrations) before they are public.
    return sorted({proposal for proposal in profile.proposals if proposal})


def user_by_api_key(*, key: str):
    """The user a key belongs to, as a local DRF token or as the mirror of a portal token; None if neither.

    One query on the common path (the local token, joined to its user and profile), so that token requests stay cheap.
    """
    from rest_framework.authtoken.models import Token

    if not key:
        return None
    token = Token.objects.select_related("user", "user__profile").filter(key=key).first()
    if token is not None:
        return token.user
    profile = Profile.objects.select_related("user").filter(api_token=key).first()
    return profile.user if profile is not None else None
