"""Reads about users: the proposals that open proprietary frames to them."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def user_proposals(*, user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """Proposal ids for visibility, cached on the user object so a request asks the database once."""
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_archive_proposals", None)
    if cached is not None:
        return cached
    if user.is_superuser:
        from frames.selectors import all_proposal_ids

        proposals = all_proposal_ids()
    else:
        from authentication.models import Profile

        stored = Profile.objects.filter(user=user).values_list("proposals", flat=True).first()
        proposals = sorted({p for p in (stored or []) if p})
    user._archive_proposals = proposals
    return proposals
