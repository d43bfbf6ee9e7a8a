"""Writes of the downtimes app: validate, create, update and delete a downtime, each with its audit event."""

import datetime
import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import models, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError

from archive.configdb import ConfigDBUnavailable
from downtimes.models import CODE_FIELDS, Downtime, DowntimeEvent
from downtimes.selectors import Topology, downtime_topology

logger = logging.getLogger(__name__)

WRITABLE_FIELDS = ("start", "end", "site", "enclosure", "telescope", "instrument_type", "reason")
REQUIRED_FIELDS = ("start", "end", "site", "enclosure", "telescope")
DEFAULTS = {"instrument_type": "", "reason": ""}
ORDER_MESSAGE = "End time must be after start time"
COMBINATION_MESSAGE = "The site, enclosure, telescope, and instrument_type combination does not exist in Configdb"
END_RANGE_MESSAGE = "End time must be at most 9999-12-31T23:59:59Z."
CHOICE_MESSAGE = '"{value}" is not a valid choice.'
UNAVAILABLE_MESSAGE = (
    "The configuration database cannot be reached and no copy of its telescope list is cached, so this downtime "
    "cannot be checked. Try again in a few minutes."
)
NOT_FOUND_MESSAGE = "No Downtime matches the given query."


class DowntimeInvalid(ValidationError):
    """Values a downtime cannot have. `detail` is what the API answers with status 400:
    `{field: [message, ...]}` and/or `{"non_field_errors": [message]}`."""


def _column_length(field: str) -> int:
    column = Downtime._meta.get_field(field)
    assert isinstance(column, models.CharField) and column.max_length is not None  # the codes are bounded text
    return column.max_length


def _code_error(field: str, value: str, topology: Topology | None) -> str | None:
    """The choice error of one code, or None. Without configdb (not configured) only the shape is checked."""
    if field == "instrument_type" and value == "":
        return None
    if topology is None:
        shape_ok = value != "" and not any(c.isspace() for c in value) and len(value) <= _column_length(field)
        return None if shape_ok else CHOICE_MESSAGE.format(value=value)
    return None if value in topology.codes(field) else CHOICE_MESSAGE.format(value=value)


def _utc(value: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


def _whole_seconds(start: datetime.datetime, end: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """Rounded outward (start down, end up) so what is stored is exactly what clients read, and nothing shrinks."""
    start = start.replace(microsecond=0)
    if end.microsecond:
        end = end.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return start, end


def _stored_values(downtime: Downtime) -> dict[str, Any]:
    return {field: getattr(downtime, field) for field in WRITABLE_FIELDS}


def downtime_validate(
    *, data: Mapping[str, Any], downtime: Downtime | None = None, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The values to store for a new downtime (`downtime` None) or a change of `downtime` by `data`.

    `data` holds parsed values (aware datetimes, strings) of the fields given; `errors` the field errors the caller
    found while parsing, reported together with the choice errors. Then `end > start` on the values as sent, then
    the configdb combination (docs/downtimes.md, "Validation order"). Choices and combination are checked only when
    a code changes, so editing times or reason of a retired telescope needs no configdb. Returns every writable
    field, times in whole seconds.

    Raises DowntimeInvalid, or ConfigDBUnavailable when a check needs configdb and no copy of it is cached.
    """
    errors = {field: list(messages) for field, messages in (errors or {}).items()}
    current = _stored_values(downtime) if downtime is not None else dict(DEFAULTS)
    given = {field: value for field, value in data.items() if field in WRITABLE_FIELDS}
    for field in ("start", "end"):
        if given.get(field) is not None:
            given[field] = _utc(given[field])
    merged = {**current, **given}
    if downtime is None:
        for field in REQUIRED_FIELDS:
            if merged.get(field) is None and field not in errors:
                errors[field] = ["This field is required."]
    changed_codes = [field for field in CODE_FIELDS if field in given and given[field] != current.get(field)]

    topology = None
    to_check = [field for field in changed_codes if field not in errors]
    if to_check:  # when a changed code already has an error, the write fails without configdb's help
        try:
            topology = downtime_topology()
        except ConfigDBUnavailable:
            raise ConfigDBUnavailable(UNAVAILABLE_MESSAGE) from None
    for field in to_check:
        message = _code_error(field, merged[field], topology)
        if message:
            errors.setdefault(field, []).append(message)
    if errors:
        raise DowntimeInvalid(errors)

    if merged["end"] <= merged["start"]:
        raise DowntimeInvalid({"non_field_errors": [ORDER_MESSAGE]})
    if (
        changed_codes
        and topology is not None
        and not topology.has_combination(**{field: merged[field] for field in CODE_FIELDS})
    ):
        raise DowntimeInvalid({"non_field_errors": [COMBINATION_MESSAGE]})
    try:
        merged["start"], merged["end"] = _whole_seconds(merged["start"], merged["end"])
    except OverflowError:  # an end in the calendar's last second, rounded up past it
        raise DowntimeInvalid({"end": [END_RANGE_MESSAGE]}) from None
    return merged


def _actor(user: User | AnonymousUser | None) -> User | None:
    if user is None or isinstance(user, AnonymousUser) or not getattr(user, "is_authenticated", False):
        return None
    return user


def _address(value: str | None) -> str | None:
    """A client address the audit column can hold; anything else (a garbled forwarded header) is not recorded."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _record(
    *,
    downtime_pk: int,
    action: str,
    user: User | None,
    via: str,
    client_address: str | None,
    changes: dict[str, Any],
    snapshot: dict[str, Any],
) -> None:
    DowntimeEvent.objects.create(
        downtime_pk=downtime_pk,
        action=action,
        at=timezone.now(),
        user=user,
        username=user.get_username() if user is not None else "",
        via=via,
        client_address=_address(client_address),
        changes=changes,
        snapshot=snapshot,
    )


def downtime_wire(downtime: Downtime) -> dict[str, Any]:
    """The downtime as the API shows it (the 8 keys), for events and the command's --json."""
    from downtimes.serializers import DowntimeSerializer  # the one representation; serializers import services

    return dict(DowntimeSerializer(downtime).data)


def downtime_create(
    *,
    data: Mapping[str, Any],
    user: User | AnonymousUser | None = None,
    via: str,
    client_address: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Downtime:
    """Validate (downtime_validate) and create a downtime, recording who did it; one transaction with its event."""
    values = downtime_validate(data=data, errors=errors)
    user = _actor(user)
    with transaction.atomic():
        downtime = Downtime.objects.create(**values, created_by=user, modified_by=user)
        snapshot = downtime_wire(downtime)
        _record(
            downtime_pk=downtime.pk,
            action=DowntimeEvent.Action.CREATED,
            user=user,
            via=via,
            client_address=client_address,
            changes={key: [None, value] for key, value in snapshot.items() if key != "id"},
            snapshot=snapshot,
        )
    logger.info("Downtime %s created by %s via %s", downtime, user, via)
    return downtime


def downtime_update(
    *,
    downtime: Downtime,
    data: Mapping[str, Any],
    user: User | AnonymousUser | None = None,
    via: str,
    client_address: str | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Downtime:
    """Apply `data` (any subset of the fields) to `downtime`, validated as a whole; a change of nothing writes
    nothing and records nothing. Returns the stored downtime."""
    user = _actor(user)
    # configdb may be asked here (up to its timeout), so validate before taking the row lock.
    fresh = Downtime.objects.filter(pk=downtime.pk).first()
    if fresh is None:
        raise NotFound(NOT_FOUND_MESSAGE)
    values = downtime_validate(data=data, downtime=fresh, errors=errors)
    with transaction.atomic():
        locked = Downtime.objects.select_for_update().filter(pk=downtime.pk).first()
        if locked is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        if _stored_values(locked) != _stored_values(fresh):
            # Changed meanwhile: validate against what is stored now (configdb's answer is cached by now).
            values = downtime_validate(data=data, downtime=locked, errors=errors)
        changed = [field for field in WRITABLE_FIELDS if getattr(locked, field) != values[field]]
        if not changed:
            return locked
        before = downtime_wire(locked)
        for field in changed:
            setattr(locked, field, values[field])
        locked.modified_by = user
        locked.save(update_fields=[*changed, "modified", "modified_by"])
        after = downtime_wire(locked)
        _record(
            downtime_pk=locked.pk,
            action=DowntimeEvent.Action.UPDATED,
            user=user,
            via=via,
            client_address=client_address,
            changes={key: [before[key], after[key]] for key in after if before[key] != after[key]},
            snapshot=after,
        )
    logger.info("Downtime %s changed (%s) by %s via %s", locked, ", ".join(changed), user, via)
    return locked


def downtime_delete(
    *,
    downtime: Downtime,
    user: User | AnonymousUser | None = None,
    via: str,
    client_address: str | None = None,
) -> None:
    """Delete a downtime for good (clients expect 404 afterwards); its event keeps the last snapshot."""
    user = _actor(user)
    with transaction.atomic():
        locked = Downtime.objects.select_for_update().filter(pk=downtime.pk).first()
        if locked is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        snapshot = downtime_wire(locked)
        pk = locked.pk
        locked.delete()
        _record(
            downtime_pk=pk,
            action=DowntimeEvent.Action.DELETED,
            user=user,
            via=via,
            client_address=client_address,
            changes={},
            snapshot=snapshot,
        )
    logger.info("Downtime %s deleted by %s via %s", pk, user, via)
