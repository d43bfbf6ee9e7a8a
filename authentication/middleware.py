"""The session's user with fresh proposals: the refresh the DRF classes do as they authenticate (backends.py), for
requests that Django's session authenticates (the admin, the browsable API, server-rendered pages)."""

from django.contrib.auth.middleware import get_user
from django.utils.functional import SimpleLazyObject

from authentication import services


class ProposalsRefreshMiddleware:
    """Right after Django's AuthenticationMiddleware: `request.user` stays lazy, and the first use of it resolves the
    session's user (as Django does, once per request) and refreshes that user's proposals if they are stale.

    DRF's SessionAuthentication reads this same `request.user`, so a DRF request authenticated by its session is
    refreshed here once and nowhere else. A request that a header credential authenticates never touches it, so its
    session (if any) costs nothing and is never refreshed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.user = SimpleLazyObject(lambda: _session_user(request))
        return self.get_response(request)


def _session_user(request):
    user = get_user(request)  # AuthenticationMiddleware's, cached on the request
    services.proposals_refresh_if_stale(user)
    return user
