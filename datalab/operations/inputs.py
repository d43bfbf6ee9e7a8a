"""Submitted `input_data` checked against an operation's declared inputs: the same descriptors the wizard shows are
the rules, so the front-end and the archive cannot disagree on what a valid request is."""

import math
from typing import Any

from datalab.operations.base import InputError, InputSpec, Operation

# Item keys that are URLs or a parent's whole input (growing with every chained step): never stored.
_DROPPED_ITEM_KEYS = {"url", "operationInputData"}


def stored_item(item: dict) -> dict:
    """The item as a session or operation keeps it: without URLs (they expire) and without a parent's inputs."""
    return {
        key: value
        for key, value in item.items()
        if key not in _DROPPED_ITEM_KEYS and not key.endswith("_url") and not key.endswith("Url")
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _number(value: Any, *, key: str, integer: bool = False) -> float | int:
    if isinstance(value, bool) or value is None:
        raise InputError(f"'{key}' must be a number.", key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"'{key}' must be a number, not {value!r}.", key) from None
    if not math.isfinite(number):
        raise InputError(f"'{key}' must be a finite number.", key)
    if integer:
        if number != int(number):
            raise InputError(f"'{key}' must be a whole number, not {value!r}.", key)
        return int(number)
    return number


def _check_files(operation: type[Operation], spec: InputSpec, value: Any) -> list[dict]:
    if value is None or value == "":
        value = []
    if not isinstance(value, list):
        raise InputError(f"'{spec.key}' must be a list of files.", spec.key)
    items = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InputError(f"'{spec.key}' item {position} must be an object with a basename.", spec.key)
        basename = item.get("basename")
        if spec.extra.get("color_picker") and not basename:
            continue  # a colour slot the wizard left empty
        if not isinstance(basename, str) or not basename.strip():
            raise InputError(f"'{spec.key}' item {position} has no basename.", spec.key)
        source = item.get("source", "archive") or "archive"
        if source not in ("archive", "datalab"):
            raise InputError(f"Source {source} not recognized", spec.key)
        if item.get("type") not in (None, "fits"):
            raise InputError(f"{basename} is a colour image; '{spec.key}' takes FITS images only.", spec.key)
        checked = {**stored_item(item), "basename": basename.strip(), "source": source}
        if spec.extra.get("color_picker"):
            checked.update(_check_channel(spec.key, checked))
        items.append(checked)
    minimum, maximum = int(spec.minimum or 0), int(spec.maximum or 0)
    if minimum and len(items) < minimum:
        what = "input file" if spec.key == "input_files" else f"file for '{spec.name}'"
        raise InputError(f"{operation.name} needs at least {_plural(minimum, what)}.", spec.key)
    if maximum and len(items) > maximum:
        what = "input file" if spec.key == "input_files" else f"file for '{spec.name}'"
        raise InputError(f"{operation.name} takes at most {_plural(maximum, what)}, not {len(items)}.", spec.key)
    return sorted(items, key=lambda item: (item["basename"], item["source"]))


def _check_channel(key: str, item: dict) -> dict:
    color = item.get("color")
    if not isinstance(color, dict):
        raise InputError(f"Channel {item['basename']} needs a colour {{r, g, b}}.", key)
    checked: dict[str, Any] = {"color": {}}
    for component in ("r", "g", "b"):
        value = _number(color.get(component), key=f"{key}.color.{component}", integer=True)
        if not 0 <= value <= 255:
            raise InputError(f"Colour component {component} of {item['basename']} must be 0 to 255.", key)
        checked["color"][component] = value
    for limit in ("zmin", "zmax"):
        if item.get(limit) is not None:
            checked[limit] = _number(item[limit], key=f"{key}.{limit}")
    if "zmin" in checked and "zmax" in checked and checked["zmax"] <= checked["zmin"]:
        raise InputError(f"Channel {item['basename']} needs zmax greater than zmin.", key)
    return checked


def _check_source(spec: InputSpec, value: Any) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"'{spec.key}' must be an object with ra and dec in degrees.", spec.key)
    ra = _number(value.get("ra"), key=f"{spec.key}.ra")
    dec = _number(value.get("dec"), key=f"{spec.key}.dec")
    if not 0 <= ra < 360:
        raise InputError(f"RA must be from 0 to 360 degrees, not {ra}.", spec.key)
    if not -90 <= dec <= 90:
        raise InputError(f"Dec must be from -90 to 90 degrees, not {dec}.", spec.key)
    source: dict[str, Any] = {"ra": ra, "dec": dec}
    name = value.get("name")
    if name not in (None, ""):
        source["name"] = str(name)[:200]
    return source


def _check_positions(spec: InputSpec, value: Any) -> list[dict]:
    """A list of timed sky positions ({ra, dec, mjd}; one object alone is a list of one), sorted by time."""
    items = value if isinstance(value, list) else [value]
    positions = []
    for position, item in enumerate(items, start=1):
        checked = _check_source(spec, item)
        checked["mjd"] = _number(item.get("mjd"), key=f"{spec.key}[{position}].mjd")
        positions.append(checked)
    minimum, maximum = int(spec.minimum or 0), int(spec.maximum or 0)
    if minimum and len(positions) < minimum:
        raise InputError(
            f"'{spec.key}' needs at least {_plural(minimum, 'position')} with ra, dec and mjd, not {len(positions)}.",
            spec.key,
        )
    if maximum and len(positions) > maximum:
        raise InputError(f"'{spec.key}' takes at most {_plural(maximum, 'position')}.", spec.key)
    return sorted(positions, key=lambda checked: checked["mjd"])


def _check_value(spec: InputSpec, value: Any) -> Any:
    if spec.type == "source":
        return _check_source(spec, value)
    if spec.type == "positions":
        return _check_positions(spec, value)
    if spec.type in ("float", "int"):
        number = _number(value, key=spec.key, integer=spec.type == "int")
        if spec.minimum is not None and number < spec.minimum:
            raise InputError(f"'{spec.key}' must be at least {spec.minimum}.", spec.key)
        if spec.maximum is not None and number > spec.maximum:
            raise InputError(f"'{spec.key}' must be at most {spec.maximum}.", spec.key)
        return number
    if not isinstance(value, str):
        raise InputError(f"'{spec.key}' must be a string.", spec.key)
    if spec.options and value not in spec.options:
        choices = ", ".join(str(option) for option in spec.options)
        raise InputError(f"'{spec.key}' must be one of {choices}, not {value!r}.", spec.key)
    if spec.required and spec.type == "string" and not value.strip():
        raise InputError(f"'{spec.key}' may not be empty.", spec.key)
    return value


def check_input_data(operation: type[Operation], input_data: Any) -> tuple[dict, dict[str, list[dict]]]:
    """(parameters with defaults applied, {fits input key: checked items sorted by basename}); InputError otherwise."""
    if not isinstance(input_data, dict):
        raise InputError("input_data must be an object with one entry per input.", "input_data")
    input_data = operation.normalise_params(dict(input_data))
    declared = {spec.key for spec in operation.inputs}
    unknown = sorted(set(input_data) - declared)
    if unknown:
        raise InputError(f"{operation.name} has no input {', '.join(repr(key) for key in unknown)}.", unknown[0])
    params: dict[str, Any] = {}
    files: dict[str, list[dict]] = {}
    for spec in operation.inputs:
        value = input_data.get(spec.key)
        if spec.type == "fits":
            files[spec.key] = _check_files(operation, spec, value)
            continue
        if value is None or (value == "" and spec.type != "string"):
            if spec.default is not None:
                params[spec.key] = spec.default
                continue
            if spec.required:
                raise InputError(f"{operation.name} needs '{spec.key}' ({spec.name}).", spec.key)
            continue
        params[spec.key] = _check_value(spec, value)
    return params, files
