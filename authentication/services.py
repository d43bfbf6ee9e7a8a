"""Writes of the authentication app: portal sync, the user push, proposal refresh, logins, tokens and the audit log."""

import datetime
import logging

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from kombu.exceptions import KombuError
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled

from archive import portal
from archive.celery import app as celery_app
from archive.exceptions import Conflict
from archive.network import client_address
from authentication import selectors, throttling
from authentication.models import AuthEvent, Profile

logger = logging.getLogger(__name__)

# A user whose refresh failed is not asked about again for this long, so an outage costs each user one failed call
# a minute rather than one per request.
REFRESH_BACKOFF_SECONDS = 60
# Set on the HttpRequest by the password backend when it refused a login for a reason worth auditing.
LOGIN_REFUSAL_ATTRIBUTE = "_archive_login_refusal"
LOGIN_METHOD_ATTRIBUTE = "_archive_login_method"
PORTAL_USER_REFRESH_TASK = "authentication.portal_user_refresh"
REFRESH_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


class TakeoverRefused(Exception):
    """The portal vouched for a username that belongs to a local account here; it is never adopted (takeover rule)."""


def auth_event_record(
    *,
    kind: str,
    outcome: str,
    method: str,
    username: str = "",
    user: User | None = None,
    request: HttpRequest | None = None,
) -> AuthEvent:
    """Append one audit event; never given a password or a token."""
    address = client_address(request) if request is not None else ""
    agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    return AuthEvent.objects.create(
        kind=kind,
        outcome=outcome,
        method=method,
        username=(username or (user.get_username() if user is not None else ""))[:150],
        user=user,
        address=address[:64],
        user_agent=agent[:200],
    )


def _assign_api_token(*, profile: Profile, api_token: str, confirmed: bool, now: datetime.datetime) -> None:
    """Mirror the portal token on `profile`, taking it away from any other profile first (it is unique)."""
    if api_token != profile.api_token:
        if api_token:
            holders = Profile.objects.filter(api_token=api_token).exclude(pk=profile.pk)
            previous = list(holders.values_list("user__username", flat=True))
            if previous:
                logger.warning(
                    "Portal API token of %s was mirrored on %s; moved to %s",
                    profile.user.get_username(),
                    ", ".join(previous),
                    profile.user.get_username(),
                )
                holders.update(api_token="", api_token_confirmed_at=None)
        profile.api_token = api_token
        profile.api_token_confirmed_at = None
    if confirmed and api_token:
        profile.api_token_confirmed_at = now


def _user_for_update(username: str) -> tuple[User, bool]:
    """(user, created): the user of that name, locked, created with an unusable password if new."""
    User = get_user_model()
    user = User.objects.select_for_update().filter(username=username).first()
    if user is not None:
        return user, False
    try:
        with transaction.atomic():
            user = User(username=username)
            user.set_unusable_password()
            user.save()
        return user, True
    except IntegrityError:
        # Created meanwhile by a concurrent login, bearer or push for the same user.
        return User.objects.select_for_update().get(username=username), False


def profile_update_from_portal(
    *,
    data: portal.PortalProfile,
    method: str,
    reactivate: bool,
    confirm_token: bool,
    mark_fetched: bool = False,
    request: HttpRequest | None = None,
) -> User:
    """Create or update the user the portal described, in one transaction; returns the user.

    `reactivate`: this check refuses inactive portal accounts (a password login, a Token refresh), so an account the
    archive deactivated because the portal refused it comes back. `confirm_token`: the portal accepted or returned
    `data.api_token` just now. `mark_fetched`: count the proposals as fetched even when the body had none.
    Raises TakeoverRefused (logged and audited) when the username belongs to a local account.
    """
    now = timezone.now()
    reactivated = False
    try:
        with transaction.atomic():
            user, created = _user_for_update(data.username)
            profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
            if not created and not profile.portal_linked:
                raise TakeoverRefused(data.username)
            user_fields = {
                "first_name": data.first_name,
                "last_name": data.last_name,
                "email": data.email,
                "is_staff": data.is_staff,
                "is_superuser": data.is_superuser,
            }
            if reactivate and not user.is_active and profile.portal_rejected_at is not None:
                user_fields["is_active"] = True
                profile.portal_rejected_at = None
                reactivated = True
            changed = [name for name, value in user_fields.items() if getattr(user, name) != value]
            for name in changed:
                setattr(user, name, user_fields[name])
            if changed:
                user.save(update_fields=changed)
            profile.user = user
            profile.portal_linked = True
            profile.staff_view = data.staff_view
            _assign_api_token(profile=profile, api_token=data.api_token, confirmed=confirm_token, now=now)
            if data.proposals is not None:
                profile.proposals = list(data.proposals)
            if data.proposals is not None or mark_fetched:
                profile.proposals_fetched_at = now
            profile.save()
    except TakeoverRefused:
        logger.warning("Refused a portal %s for %r: a local account has that username", method, data.username)
        kind = AuthEvent.Kind.PUSH if method == AuthEvent.Method.PUSH else AuthEvent.Kind.LOGIN
        auth_event_record(
            kind=kind, outcome=AuthEvent.Outcome.CONFLICT, method=method, username=data.username, request=request
        )
        raise
    if reactivated:
        logger.info("Reactivated %s: the portal accepts the account again", user.get_username())
        auth_event_record(
            kind=AuthEvent.Kind.PORTAL_REACTIVATED,
            outcome=AuthEvent.Outcome.OK,
            method=method,
            user=user,
            request=request,
        )
    return user


def push_throttle_check(*, request: HttpRequest) -> None:
    """Raise Throttled (429) when the client address is over its rate of refused server keys, before the key is
    compared. Only the first such refusal of a window is audited; the rest are counted in the cache."""
    wait = throttling.push_refusal_wait(request=request)
    if not wait:
        return
    if throttling.push_refused_note(request=request):
        auth_event_record(
            kind=AuthEvent.Kind.PUSH,
            outcome=AuthEvent.Outcome.THROTTLED,
            method=AuthEvent.Method.PUSH,
            request=request,
        )
    raise Throttled(wait=wait)


def push_refusal_record(*, request: HttpRequest) -> None:
    """A push with a wrong or missing server key: counted against the address, and audited."""
    throttling.push_refusal_record(request=request)
    auth_event_record(
        kind=AuthEvent.Kind.PUSH, outcome=AuthEvent.Outcome.FORBIDDEN, method=AuthEvent.Method.PUSH, request=request
    )


def user_push_apply(*, data: portal.PortalProfile, request: HttpRequest | None = None) -> User:
    """The portal's push of one user: upsert, never touching the password or `is_active`; then recheck the
    user's token at the portal in the background, which is how a deactivation there reaches the archive."""
    try:
        user = profile_update_from_portal(
            data=data, method=AuthEvent.Method.PUSH, reactivate=False, confirm_token=False, request=request
        )
    except TakeoverRefused:
        raise Conflict(f"{data.username} is a local account of the archive; the portal cannot update it.") from None
    auth_event_record(
        kind=AuthEvent.Kind.PUSH, outcome=AuthEvent.Outcome.OK, method=AuthEvent.Method.PUSH, user=user, request=request
    )
    transaction.on_commit(lambda: _portal_user_refresh_queue(user_id=user.pk))
    return user


def _portal_user_refresh_queue(*, user_id: int) -> None:
    """Queue the recheck of a pushed user; a broker outage is logged, never an error of the push.

    The push's change is committed by now, so failing the request would only make the portal push again for nothing.
    The recheck is not lost: the daily `revalidate_portal_users` task rechecks every portal user with a token, this
    one included (without a token there is nothing to recheck), so a deactivation at the portal still reaches the
    archive, a day late at worst.
    """
    try:
        # By name: the task module imports this one (its registration is the app's ready()). A short retry policy:
        # the portal waits for this answer, and the daily revalidation is the fallback.
        celery_app.signature(PORTAL_USER_REFRESH_TASK, args=[user_id]).apply_async(
            retry=True, retry_policy=REFRESH_PUBLISH_RETRY
        )
    except (KombuError, OSError) as exc:
        logger.warning(
            "Portal recheck of user %s not queued (broker unavailable: %s); left to the daily revalidation",
            user_id,
            exc,
        )


def _portal_rejected(*, user: User, api_token: str) -> Profile:
    """The portal refuses `api_token`: no proposals; deactivate the user if that token had been confirmed."""
    now = timezone.now()
    User = get_user_model()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        profile = Profile.objects.select_for_update().get(user=locked)
        profile.proposals = []
        profile.proposals_fetched_at = now
        # Only a token the portal once accepted proves a deactivation: a token only ever pushed may be a typo or a
        # rotation the push has not yet delivered.
        deactivate = locked.is_active and profile.api_token == api_token and profile.api_token_confirmed_at is not None
        if deactivate:
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            profile.portal_rejected_at = now
        profile.save()
    if deactivate:
        logger.warning("Deactivated %s: the portal refuses its confirmed API token", locked.get_username())
        auth_event_record(
            kind=AuthEvent.Kind.PORTAL_REJECTED,
            outcome=AuthEvent.Outcome.INACTIVE,
            method=AuthEvent.Method.TASK,
            user=locked,
        )
    user.is_active = locked.is_active
    profile.user = user
    return profile


def proposals_refresh(*, user: User, profile: Profile | None = None, force: bool = False) -> Profile:
    """Ask the portal (by the user's portal token) for the user's profile and proposals; returns the profile.

    Requests reach it through `proposals_refresh_if_stale` as they authenticate; the push's recheck and the daily
    revalidation call it with `force`. On failure the stored list stays and the user is not asked about again for
    REFRESH_BACKOFF_SECONDS (unless `force`); never raises for a portal problem.
    """
    if profile is None:
        profile, _ = Profile.objects.get_or_create(user=user)
    api_token = profile.api_token
    if not portal.profile_enabled() or not api_token:
        return profile
    backoff_key = f"proposals_refresh:backoff:{user.pk}"
    if not force and cache.get(backoff_key):
        return profile
    try:
        data = portal.fetch_profile(api_token=api_token)
    except portal.PortalRejected:
        return _portal_rejected(user=user, api_token=api_token)
    except portal.PortalUnavailable:
        logger.warning("Proposals of %s not refreshed: the portal is unavailable; keeping the stored list", user.pk)
        cache.set(backoff_key, True, timeout=REFRESH_BACKOFF_SECONDS)
        return profile
    if data.username != user.get_username():
        logger.error(
            "The portal token mirrored on user %s belongs to %r at the portal; not applied", user.pk, data.username
        )
        cache.set(backoff_key, True, timeout=REFRESH_BACKOFF_SECONDS)
        return profile
    try:
        updated = profile_update_from_portal(
            data=data, method=AuthEvent.Method.TASK, reactivate=True, confirm_token=True, mark_fetched=True
        )
    except TakeoverRefused:
        return profile
    fresh = Profile.objects.get(user_id=user.pk)
    for name in ("first_name", "last_name", "email", "is_staff", "is_superuser", "is_active"):
        setattr(user, name, getattr(updated, name))
    fresh.user = user
    return fresh


def proposals_refresh_if_stale(user: User | AnonymousUser | None) -> None:
    """Refresh a portal-linked user's proposals when the stored list is stale; called once as a request authenticates.

    Every way a request authenticates calls this (the DRF classes of authentication.backends, and
    authentication.middleware for Django's session), so that reading the proposals afterwards
    (`selectors.user_proposals`, `Frame.objects.visible_to`) never goes to the network. Nothing happens for anonymous
    callers, local accounts, users without a profile or a list younger than OAUTH_PROPOSALS_TTL_SECONDS. The fresh
    profile is put on `user` itself, which is the object the request carries, and any list already read from it is
    forgotten. A portal problem keeps the stored list and backs the user off (`proposals_refresh`); it never raises.
    """
    if user is None or not user.is_authenticated:
        return
    profile = selectors.profile_of(user)
    if profile is None or not profile.portal_linked or not selectors.proposals_are_stale(profile):
        return
    fresh = proposals_refresh(user=user, profile=profile)
    if fresh is not profile:
        user.profile = fresh
    if hasattr(user, selectors.PROPOSALS_ATTRIBUTE):  # a list read before the refresh
        delattr(user, selectors.PROPOSALS_ATTRIBUTE)


def portal_users_revalidate() -> int:
    """Refresh every portal-linked user with a portal token, including those deactivated because the portal refused
    them (they come back if it accepts them again); returns how many were asked about."""
    User = get_user_model()
    users = (
        User.objects.filter(profile__portal_linked=True)
        .exclude(profile__api_token="")
        .exclude(is_active=False, profile__portal_rejected_at__isnull=True)
        .select_related("profile")
        .order_by("pk")
    )
    count = 0
    for user in users.iterator(chunk_size=500):
        proposals_refresh(user=user, profile=user.profile, force=True)
        count += 1
    return count


def auth_events_purge(*, now: datetime.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete audit events older than AUTH_EVENT_RETENTION_DAYS; returns how many."""
    from django.conf import settings

    days = settings.AUTH_EVENT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted, _ = AuthEvent.objects.filter(created__lt=cutoff).delete()
    return deleted


# --- logins and tokens ----------------------------------------------------------------------------------------------


def login_authenticate(*, request: HttpRequest, username: str, password: str, method: str) -> User | None:
    """A password login through the backends, behind the login throttles; the user or None.

    Raises Throttled (429) before any backend runs when the address or the username is over its rate, and
    PortalUnavailable (503) when the portal cannot answer. Failures are counted by the `user_login_failed` receiver.
    """

    def login_event(outcome: str, user: User | None = None) -> None:
        auth_event_record(
            kind=AuthEvent.Kind.LOGIN, outcome=outcome, method=method, username=username, user=user, request=request
        )

    wait = throttling.login_wait(request=request, username=username)
    if wait:
        if throttling.login_refused_note(request=request, username=username):
            login_event(AuthEvent.Outcome.THROTTLED)
        raise Throttled(wait=wait)
    setattr(request, LOGIN_METHOD_ATTRIBUTE, method)
    setattr(request, LOGIN_REFUSAL_ATTRIBUTE, None)
    try:
        user = authenticate(request, username=username, password=password)
    except portal.PortalUnavailable:
        login_event(AuthEvent.Outcome.PORTAL_UNAVAILABLE)
        raise
    if user is None:
        refusal = getattr(request, LOGIN_REFUSAL_ATTRIBUTE, None)
        if refusal != AuthEvent.Outcome.CONFLICT:  # a refused takeover was audited where it was detected
            inactive = get_user_model().objects.filter(username=username, is_active=False).exists()
            login_event(AuthEvent.Outcome.INACTIVE if inactive else AuthEvent.Outcome.BAD_CREDENTIALS)
        return None
    login_event(AuthEvent.Outcome.OK, user=user)
    return user


def token_obtain(*, user: User, request: HttpRequest | None = None) -> Token:
    """The user's local API token, created if missing (repeated calls return the same key)."""
    token, created = Token.objects.get_or_create(user=user)
    if created:
        auth_event_record(
            kind=AuthEvent.Kind.TOKEN_ISSUED,
            outcome=AuthEvent.Outcome.OK,
            method=AuthEvent.Method.API_TOKEN_AUTH,
            user=user,
            request=request,
        )
    return token


def token_rotate(*, user: User, method: str, request: HttpRequest | None = None) -> Token:
    """Replace the user's local API token with a new one (also when there was none); the portal mirror is untouched."""
    User = get_user_model()
    with transaction.atomic():
        # The user row serialises concurrent rotations, which would otherwise both create a token.
        User.objects.select_for_update().filter(pk=user.pk).first()
        Token.objects.filter(user_id=user.pk).delete()
        token = Token.objects.create(user=user)
    auth_event_record(
        kind=AuthEvent.Kind.TOKEN_REVOKED, outcome=AuthEvent.Outcome.OK, method=method, user=user, request=request
    )
    return token
