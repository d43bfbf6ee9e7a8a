"""DALI parameter values: numbers, intervals, shapes and integers, each refused with a `UsageFault` that says what
was wrong. Pure functions: nothing here reads the database."""

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from django.http import QueryDict

# A number in VOTable TABLEDATA syntax; Python's float() would also take "nan", "1_0" and "0x…"-free oddities.
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
INFINITIES = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf}
INFINITIES.update({"+infinity": math.inf, "-infinity": -math.inf})


class UsageFault(Exception):
    """A parameter value the service cannot use; its message is shown to the caller after `UsageFault: `."""


class Interval(NamedTuple):
    lo: float
    hi: float


@dataclass(frozen=True)
class Circle:
    ra: float
    dec: float
    radius: float


@dataclass(frozen=True)
class Range:
    ra1: float
    ra2: float
    dec1: float
    dec2: float


@dataclass(frozen=True)
class Polygon:
    vertices: tuple[tuple[float, float], ...]


Shape = Circle | Range | Polygon


def parameters(*sources: QueryDict) -> dict[str, list[str]]:
    """Every parameter by its upper-cased name, values in order, empty values dropped (DALI: names are
    case-insensitive; an empty value is as if the parameter were absent)."""
    found: dict[str, list[str]] = {}
    for source in sources:
        for name, values in source.lists():
            for value in values:
                if "\x00" in value or "\x00" in name:
                    raise UsageFault(f"{name.upper()}: values may not contain a NUL character")
                if value.strip() != "":
                    found.setdefault(name.upper(), []).append(value)
    return found


def single(params: dict[str, list[str]], name: str) -> str | None:
    """The value of a single-valued parameter, None when absent; a repeat is refused."""
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise UsageFault(f"{name} may be given once, got {len(values)} values")
    return values[0]


def number(text: str, name: str) -> float:
    """A double, `Inf` spellings included; NaN or a value beyond a double's range is refused."""
    token = text.strip()
    folded = token.lower()
    if folded in INFINITIES:
        return INFINITIES[folded]
    if not NUMBER_RE.fullmatch(token):
        raise UsageFault(f"{name}: {token!r} is not a number")
    value = float(token)
    if math.isinf(value):
        raise UsageFault(f"{name}: {token} is beyond the range of a double")
    return value


def numbers(text: str, name: str) -> list[float]:
    return [number(token, name) for token in text.split()]


def interval(text: str, name: str) -> Interval:
    """One number (a point) or two (`lo hi`, bounds included, either infinite)."""
    values = numbers(text, name)
    if len(values) == 1:
        if math.isinf(values[0]):
            raise UsageFault(f"{name}: a single value must be finite, got {text.strip()!r}")
        return Interval(values[0], values[0])
    if len(values) != 2:
        raise UsageFault(f"{name}: an interval is one or two numbers, got {len(values)}")
    lo, hi = values
    if lo > hi:
        raise UsageFault(f"{name}: lower bound {_g(lo)} is above upper bound {_g(hi)}")
    return Interval(lo, hi)


def integer(text: str, name: str) -> int:
    token = text.strip()
    if not re.fullmatch(r"[+-]?\d+", token):
        raise UsageFault(f"{name}: {token!r} is not an integer")
    return int(token)


def maxrec(text: str | None, *, default: int, largest: int) -> int:
    """MAXREC: absent → `default`; above `largest` → clamped; negative or not an integer → refused."""
    if text is None:
        return default
    value = integer(text, "MAXREC")
    if value < 0:
        raise UsageFault(f"MAXREC must be 0 or more, got {value}")
    return min(value, largest)


def _g(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf")


def _ra(value: float, name: str) -> float:
    if not (math.isfinite(value) and 0 <= value <= 360):
        raise UsageFault(f"{name}: RA {_g(value)} is outside [0, 360]")
    return value


def _dec(value: float, name: str) -> float:
    if not (math.isfinite(value) and -90 <= value <= 90):
        raise UsageFault(f"{name}: Dec {_g(value)} is outside [-90, 90]")
    return value


def shape(text: str, *, max_radius: float, name: str = "POS") -> Shape:
    """`CIRCLE ra dec r`, `RANGE ra1 ra2 dec1 dec2` or `POLYGON ra dec ra dec ra dec …` in ICRS degrees."""
    parts = text.split(None, 1)
    keyword = parts[0].upper() if parts else ""
    rest = parts[1] if len(parts) > 1 else ""
    if keyword == "CIRCLE":
        values = numbers(rest, name)
        if len(values) != 3:
            raise UsageFault(f"{name}: CIRCLE needs 3 numbers, got {len(values)}")
        ra, dec, radius = values
        if not (math.isfinite(radius) and 0 <= radius <= max_radius):
            raise UsageFault(f"{name}: CIRCLE radius {_g(radius)} is outside [0, {max_radius:g}] degrees")
        return Circle(_ra(ra, name), _dec(dec, name), radius)
    if keyword == "RANGE":
        values = numbers(rest, name)
        if len(values) != 4:
            raise UsageFault(f"{name}: RANGE needs 4 numbers (ra1 ra2 dec1 dec2), got {len(values)}")
        ra1, ra2, dec1, dec2 = values
        for ra in (ra1, ra2):
            if not math.isinf(ra):
                _ra(ra, name)
        dec1 = -90.0 if dec1 == -math.inf else dec1
        dec2 = 90.0 if dec2 == math.inf else dec2
        _dec(dec1, name)
        _dec(dec2, name)
        if dec1 > dec2:
            raise UsageFault(f"{name}: RANGE dec1 {_g(dec1)} is above dec2 {_g(dec2)}")
        return Range(ra1, ra2, dec1, dec2)
    if keyword == "POLYGON":
        values = numbers(rest, name)
        if len(values) % 2:
            raise UsageFault(f"{name}: POLYGON needs pairs of numbers (ra dec), got {len(values)} numbers")
        vertices = [(_ra(values[i], name), _dec(values[i + 1], name)) for i in range(0, len(values), 2)]
        if len(vertices) > 3 and vertices[0] == vertices[-1]:
            vertices.pop()
        if len(vertices) < 3:
            raise UsageFault(f"{name}: POLYGON needs at least 3 vertices, got {len(vertices)}")
        check_polygon(vertices, name)
        return Polygon(tuple(vertices))
    raise UsageFault(f"{name}: {keyword or text.strip()!r} is not CIRCLE, RANGE or POLYGON")


def _unit_vector(ra: float, dec: float) -> tuple[float, float, float]:
    a, d = math.radians(ra), math.radians(dec)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def check_polygon(vertices: list[tuple[float, float]], name: str) -> None:
    """Refuse a polygon that is not simple or not within a hemisphere (SIA: the inside is the smaller region)."""
    from django.contrib.gis.geos import Polygon as GeosPolygon

    vectors = [_unit_vector(ra, dec) for ra, dec in vertices]
    mean = [sum(v[i] for v in vectors) for i in range(3)]
    norm = math.sqrt(sum(c * c for c in mean))
    if norm < 1e-9 or any(sum(a * b for a, b in zip(v, mean, strict=True)) / norm <= 1e-9 for v in vectors):
        raise UsageFault(f"{name}: POLYGON must be smaller than a hemisphere")
    # Simple on the plane of unwrapped longitudes (no jump of more than 180 degrees between neighbours), which is
    # the sphere's answer for polygons within a hemisphere that do not enclose a pole; around a pole the ring is
    # checked as it turns.
    ring: list[tuple[float, float]] = []
    for ra, dec in vertices:
        if ring:
            previous = ring[-1][0]
            ra = previous + ((ra - previous + 180.0) % 360.0 - 180.0)
        ring.append((ra, dec))
    if abs(ring[-1][0] + ((vertices[0][0] - ring[-1][0] + 180.0) % 360.0 - 180.0) - ring[0][0]) > 1e-9:
        return  # the ring turns round a pole: its projection is not a closed polygon on this plane
    geometry = GeosPolygon([*ring, ring[0]])
    if not geometry.valid:
        raise UsageFault(f"{name}: POLYGON is self-intersecting or degenerate ({geometry.valid_reason})")


INTERVAL_PARAMS = ("BAND", "TIME", "FOV", "SPATRES", "EXPTIME", "TIMERES", "SPECRP")
STRING_PARAMS = ("POL", "ID", "COLLECTION", "FACILITY", "INSTRUMENT", "DPTYPE", "TARGET", "FORMAT")
RESPONSE_FORMATS = ("votable", "application/x-votable+xml", "text/xml")


@dataclass(frozen=True)
class SiaQuery:
    """The constraints of one SIA request: each list is OR'ed, the lists AND'ed; an empty list constrains nothing."""

    pos: tuple[Shape, ...] = ()
    intervals: tuple[tuple[str, tuple[Interval, ...]], ...] = ()
    strings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    calib: tuple[int, ...] = ()

    def interval(self, name: str) -> tuple[Interval, ...]:
        return dict(self.intervals).get(name, ())

    def string(self, name: str) -> tuple[str, ...]:
        return dict(self.strings).get(name, ())


def response_format(text: str | None) -> str | None:
    """The media type to answer with when one was named, None for the default; anything but VOTable is refused."""
    if text is None:
        return None
    media = text.split(";", 1)[0].strip().lower()
    if media not in RESPONSE_FORMATS:
        raise UsageFault(f"unsupported RESPONSEFORMAT {text.strip()!r}: use votable or application/x-votable+xml")
    return None if media == "votable" else text.strip()


def sia_query(params: dict[str, list[str]], *, max_radius: float) -> SiaQuery:
    pos = tuple(shape(value, max_radius=max_radius) for value in params.get("POS", ()))
    intervals = tuple(
        (name, tuple(interval(value, name) for value in params[name])) for name in INTERVAL_PARAMS if name in params
    )
    strings = tuple((name, tuple(params[name])) for name in STRING_PARAMS if name in params)
    calib = []
    for value in params.get("CALIB", ()):
        level = integer(value, "CALIB")
        if not 0 <= level <= 4:
            raise UsageFault(f"CALIB must be an integer from 0 to 4, got {level}")
        calib.append(level)
    return SiaQuery(pos=pos, intervals=intervals, strings=strings, calib=tuple(calib))
