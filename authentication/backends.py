"""Who is calling: Django's password backends (local accounts, then the portal) and DRF's Token, Bearer and zip-body
authentication classes (docs/authentication.md, "Password logins" and "Authenticating API requests").

Every class refreshes a stale list of proposals of the user it authenticated, once, through
`services.proposals_refresh_if_stale`; Django's session gets the same from authentication.middleware. Nothing later
in the request asks the portal about proposals."""

import hashlib
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    BasicAuthentication,
    TokenAuthentication,
    get_authorization_header,
)

from archive import portal
from authentication import selectors, services, throttling
from authentication.models import AuthEvent

logger = logging.getLogger(__name__)

INVALID_BEARER = "Invalid bearer token."
INACTIVE = "User inactive or deleted."
# A bearer the portal rejected is not asked about again for this long.
BEARER_NEGATIVE_SECONDS = 60


class LocalAccountBackend(ModelBackend):
    """Django's password check, for local accounts only: portal-linked accounts log in through the portal."""

    def user_can_authenticate(self, user):
        if not super().user_can_authenticate(user):
            return False
        profile = selectors.profile_of(user)
        return profile is None or not profile.portal_linked


class PortalPasswordBackend(BaseBackend):
    """The portal's OAuth password grant, then its profile: creates or updates the local user."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or password is None or not portal.login_enabled():
            return None
        User = get_user_model()
        local = User.objects.filter(username=username).select_related("profile").first()
        if local is not None:
            profile = selectors.profile_of(local)
            if profile is None or not profile.portal_linked:
                return None  # a local account: the local backend already said no
        try:
            access_token = portal.password_grant(username=username, password=password)
            # The access token is used for this one call and kept nowhere.
            data = portal.fetch_profile(bearer=access_token)
        except portal.PortalRejected:
            return None
        method = getattr(request, services.LOGIN_METHOD_ATTRIBUTE, None) or AuthEvent.Method.API_TOKEN_AUTH
        try:
            user = services.profile_update_from_portal(
                data=data, method=method, reactivate=True, confirm_token=True, request=request
            )
        except services.TakeoverRefused:
            _note_refusal(request, AuthEvent.Outcome.CONFLICT)
            return None
        if not user.is_active:  # deactivated by archive staff: stays so
            _note_refusal(request, AuthEvent.Outcome.INACTIVE)
            return None
        return user

    def get_user(self, user_id):
        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None


def _note_refusal(request, outcome: str) -> None:
    if request is not None:
        setattr(request, services.LOGIN_REFUSAL_ATTRIBUTE, outcome)


class PortalTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`: the local DRF token, or the mirror of the user's portal token. The key is checked
    without the portal, so this keeps working while the portal is down; the only portal call is the refresh of a
    stale list of proposals, which never fails the request."""

    def authenticate_credentials(self, key):
        user = selectors.user_by_api_key(key=key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed(INACTIVE)
        services.proposals_refresh_if_stale(user)
        return user, key


def _two_part_credential(request, keyword: str) -> str | None:
    """The credential of `Authorization: <keyword> <credential>` (keyword case-insensitive), None for other schemes."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != keyword.lower().encode():
        return None
    if len(parts) == 1:
        raise exceptions.AuthenticationFailed(f"Invalid {keyword.lower()} header. No credentials provided.")
    if len(parts) > 2:
        raise exceptions.AuthenticationFailed(
            f"Invalid {keyword.lower()} header. {keyword} string should not contain spaces."
        )
    try:
        return parts[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed(
            f"Invalid {keyword.lower()} header. {keyword} string should not contain invalid characters."
        ) from None


def _active_user(user_id: int):
    user = get_user_model().objects.select_related("profile").filter(pk=user_id).first()
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed(INACTIVE)
    return user


class PortalBearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <portal access token>`, validated at the portal and then trusted for
    OAUTH_BEARER_CACHE_SECONDS; during an outage, a bearer validated within OAUTH_OUTAGE_GRACE_SECONDS keeps working.

    Only the bearer's SHA-256 is used as a cache key: the bearer itself is never stored, cached or logged.
    """

    keyword = "Bearer"

    def authenticate_header(self, request):
        return self.keyword

    def authenticate(self, request):
        bearer = _two_part_credential(request, self.keyword)
        if bearer is None:
            return None
        if not portal.profile_enabled():
            raise exceptions.AuthenticationFailed("Bearer authentication is not available.")
        digest = hashlib.sha256(bearer.encode()).hexdigest()
        valid_key, rejected_key = f"bearer:ok:{digest}", f"bearer:bad:{digest}"
        known = cache.get(valid_key)
        now = time.time()
        if known and now - known["at"] < settings.OAUTH_BEARER_CACHE_SECONDS:
            user = _active_user(known["user"])
            services.proposals_refresh_if_stale(user)
            return user, None
        if cache.get(rejected_key):
            raise exceptions.AuthenticationFailed(INVALID_BEARER)
        wait = throttling.bearer_failure_wait(request=request)
        if wait:
            raise exceptions.Throttled(wait=wait)
        try:
            data = portal.fetch_profile(bearer=bearer)
        except portal.PortalRejected:
            cache.set(rejected_key, True, timeout=BEARER_NEGATIVE_SECONDS)
            cache.delete(valid_key)
            throttling.bearer_failure_record(request=request)
            services.auth_event_record(
                kind=AuthEvent.Kind.LOGIN,
                outcome=AuthEvent.Outcome.BAD_CREDENTIALS,
                method=AuthEvent.Method.BEARER,
                request=request,
            )
            raise exceptions.AuthenticationFailed(INVALID_BEARER) from None
        except portal.PortalUnavailable:
            if known:  # the entry itself expires at the end of the grace period
                # No refresh: the portal has just failed; the stored proposals serve.
                return _active_user(known["user"]), None
            raise
        try:
            # Bearer validations never reactivate: the portal may accept an inactive account's bearer.
            user = services.profile_update_from_portal(
                data=data, method=AuthEvent.Method.BEARER, reactivate=False, confirm_token=True, request=request
            )
        except services.TakeoverRefused:
            raise exceptions.AuthenticationFailed(INVALID_BEARER) from None
        cache.set(valid_key, {"user": user.pk, "at": now}, timeout=settings.OAUTH_OUTAGE_GRACE_SECONDS)
        if not known:
            services.auth_event_record(
                kind=AuthEvent.Kind.LOGIN,
                outcome=AuthEvent.Outcome.OK if user.is_active else AuthEvent.Outcome.INACTIVE,
                method=AuthEvent.Method.BEARER,
                user=user,
                request=request,
            )
        if not user.is_active:
            raise exceptions.AuthenticationFailed(INACTIVE)
        # The validation above stored the proposals of the portal's answer: the profile is fresh, and this costs a
        # query but no second portal call (unless the portal's answer had no proposals).
        services.proposals_refresh_if_stale(user)
        return user, None


class BodyTokenAuthentication(BaseAuthentication):
    """`auth_token` in the form or JSON body of `POST /frames/zip/`: the archive web client downloads
    through a hidden-iframe form that cannot set headers. A header credential wins; an unknown or inactive key is a
    404, the status that client expects. Being an authentication class, the request is throttled as the user."""

    def authenticate(self, request):
        if get_authorization_header(request):
            return None
        data = request.data
        key = data.get("auth_token") if hasattr(data, "get") else None
        if key is None or key == "":
            return None
        if not isinstance(key, str):
            raise exceptions.NotFound()
        user = selectors.user_by_api_key(key=key)
        if user is None or not user.is_active:
            raise exceptions.NotFound()
        services.proposals_refresh_if_stale(user)
        return user, key


class ThrottledBasicAuthentication(BasicAuthentication):
    """HTTP Basic through the same login service as every password login: login throttles checked first (429),
    local and portal accounts, an unreachable portal a 503, every attempt audited."""

    def authenticate_credentials(self, userid, password, request=None):
        user = services.login_authenticate(
            request=request, username=userid, password=password, method=AuthEvent.Method.BASIC
        )
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        # A portal account's password login has just fetched its proposals; a local account has none to refresh.
        services.proposals_refresh_if_stale(user)
        return user, None


def zip_authentication_classes() -> list:
    """The project's authentication classes with BodyTokenAuthentication right after the Token class, for the zip
    view: the project setting stays the one list of classes."""
    from rest_framework.settings import api_settings

    classes = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    position = next((i + 1 for i, cls in enumerate(classes) if issubclass(cls, TokenAuthentication)), 0)
    classes.insert(position, BodyTokenAuthentication)
    return classes
