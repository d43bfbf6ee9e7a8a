"""Reads about users: the proposals that open proprietary frames to them, and the user behind an API key."""

import datetime
import functools
from collections.abc import Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Field, Model
from django.utils import timezone

from authentication.models import Profile

# Where `user_proposals` keeps its answer on the user object for the rest of the request.
PROPOSALS_ATTRIBUTE = "_archive_proposals"
M = TypeVar("M", bound=Model)


def profile_of(user: User) -> Profile | None:
    """The user's profile, from the user object when a join already loaded it; None if the user has none."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def proposals_are_stale(profile: Profile, now: datetime.datetime | None = None) -> bool:
    """True when the portal-given list is older than OAUTH_PROPOSALS_TTL_SECONDS, or was never fetched."""
    fetched = profile.proposals_fetched_at
    if fetched is None:
        return True
    now = now or timezone.now()
    return (now - fetched).total_seconds() >= settings.OAUTH_PROPOSALS_TTL_SECONDS


def user_proposals(*, user: User | AnonymousUser | None) -> list[str]:
    """The proposals that open proprietary frames to the user, read once per request and kept on the user object.

    A read of the stored profile and nothing else: never a portal call, never a write, so that visibility
    (`Frame.objects.visible_to`) and every other reader may call it freely. A stale list was refreshed, if at all,
    when the request authenticated (`services.proposals_refresh_if_stale`). Local accounts: the list staff set in
    the admin. Portal-linked users: the list the portal last gave; one never fetched counts as empty. Superusers see
    every frame whatever this says (`Frame.objects.visible_to`); their /profile/ lists every proposal with frames,
    which the frames app's aggregate knows (authentication.views).
    """
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, PROPOSALS_ATTRIBUTE, None)
    if cached is not None:
        return cached
    proposals = _profile_proposals(user)
    setattr(user, PROPOSALS_ATTRIBUTE, proposals)
    return proposals


def _profile_proposals(user: User) -> list[str]:
    profile = profile_of(user)
    if profile is None:
        return []
    if profile.portal_linked and profile.proposals_fetched_at is None:
        return []
    # Empty ids are dropped: they would open frames without a proposal (calibrations) before they are public.
    return sorted({proposal for proposal in profile.proposals if proposal})


@functools.cache
def _token_lookup() -> tuple[str, list[Field], list[Field]]:
    """The local-token look-up as SQL made once per process, with the user's and the profile's fields in its order.

    Every token request runs it, and compiling it through the ORM (a token joined to its user and profile) cost twice
    what the database took to answer it.
    """
    from rest_framework.authtoken.models import Token

    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    user_model = get_user_model()
    user_fields, profile_fields = list(user_model._meta.concrete_fields), list(Profile._meta.concrete_fields)
    columns = [f"u.{quote(f.column)}" for f in user_fields] + [f"p.{quote(f.column)}" for f in profile_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(Token._meta.db_table)} t "
        f"JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(Token._meta.get_field('user').column)} "
        f"LEFT JOIN {quote(Profile._meta.db_table)} p ON p.{quote(Profile._meta.get_field('user').column)} = "
        f"u.{quote(user_model._meta.pk.column)} WHERE t.{quote(Token._meta.pk.column)} = %s"
    )
    return sql, user_fields, profile_fields


def _from_row(model: type[M], using: str, fields: list[Field], values: Sequence[Any]) -> M:
    """An instance from selected column values, converted as the ORM converts them."""
    connection = connections[using]
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):  # type: ignore[attr-defined]  # missing in the stubs
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(using, [field.attname for field in fields], converted)


def _user_by_local_token(key: str) -> User | None:
    """The user of a local DRF token with its profile attached (as select_related would), in one query."""
    sql, user_fields, profile_fields = _token_lookup()
    user_model = get_user_model()
    using = router.db_for_read(user_model)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    user = _from_row(user_model, using, user_fields, row[: len(user_fields)])
    profile_values = row[len(user_fields) :]
    relation = Profile._meta.get_field("user")
    if profile_values[0] is None:  # no profile row: `user.profile` raises DoesNotExist without a query
        relation.remote_field.set_cached_value(user, None)
    else:
        profile = _from_row(Profile, using, profile_fields, profile_values)
        relation.remote_field.set_cached_value(user, profile)
        relation.set_cached_value(profile, user)
    return user


def user_by_api_key(*, key: str) -> User | None:
    """The user a key belongs to, as a local DRF token or as the mirror of a portal token; None if neither.

    One query on the common path (the local token, joined to its user and profile), so that token requests stay cheap.
    """
    if not key:
        return None
    user = _user_by_local_token(key)
    if user is not None:
        return user
    profile = Profile.objects.select_related("user").filter(api_token=key).first()
    return profile.user if profile is not None else None
