"""A sky map of frame footprints for the search page, drawn as SVG by the server: no tiles, no outside requests.

Footprints close together are drawn in an orthographic projection centred on them (what a small piece of sky looks
like from inside the sphere, RA increasing to the left as on the sky); footprints spread over more than a hemisphere
are drawn on an all-sky Hammer-Aitoff map centred on RA 180. Pure functions over (basename, ring) pairs, where a
ring is the footprint's outer ring of [longitude, Dec] positions in degrees (longitude = RA in [-180, 180]).
"""

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 560, 360
MARGIN = 24
# Beyond this angular radius (degrees) around the footprints' centre, the map shows the whole sky.
LOCAL_MAP_MAX_RADIUS = 75.0
GRID_STEPS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45)


@dataclass
class Outline:
    basename: str
    points: str  # SVG polygon points, "x,y x,y ..."


@dataclass
class SkyMap:
    width: int
    height: int
    kind: str  # "local" or "all-sky"
    outlines: list[Outline] = field(default_factory=list)
    grid: list[str] = field(default_factory=list)  # SVG polyline points of RA and Dec lines
    border: str = ""  # the all-sky map's outline (an SVG path), or empty
    caption: str = ""


def _vector(lon: float, lat: float) -> tuple[float, float, float]:
    lon, lat = math.radians(lon), math.radians(lat)
    return math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)


def _angle(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    dot = max(-1.0, min(1.0, a[0] * b[0] + a[1] * b[1] + a[2] * b[2]))
    return math.degrees(math.acos(dot))


def _centre(rings: list[list[list[float]]]) -> tuple[float, float, float] | None:
    """The normalised sum of every vertex's unit vector; None when they cancel out (footprints all over the sky)."""
    sx = sy = sz = 0.0
    for ring in rings:
        for lon, lat in ring:
            x, y, z = _vector(lon, lat)
            sx, sy, sz = sx + x, sy + y, sz + z
    norm = math.sqrt(sx * sx + sy * sy + sz * sz)
    if norm < 1e-9:
        return None
    return sx / norm, sy / norm, sz / norm


def _fmt(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


class _Orthographic:
    def __init__(self, ra0: float, dec0: float, radius: float):
        self.ra0, self.dec0 = math.radians(ra0), math.radians(dec0)
        usable = min(WIDTH, HEIGHT) / 2 - MARGIN
        self.scale = usable / max(math.sin(math.radians(min(radius, 89.0))), 1e-6)

    def __call__(self, lon: float, lat: float) -> tuple[float, float] | None:
        ra, dec = math.radians(lon), math.radians(lat)
        cos_c = math.sin(self.dec0) * math.sin(dec) + math.cos(self.dec0) * math.cos(dec) * math.cos(ra - self.ra0)
        if cos_c < 0:
            return None  # behind the sphere
        x = math.cos(dec) * math.sin(ra - self.ra0)
        y = math.cos(self.dec0) * math.sin(dec) - math.sin(self.dec0) * math.cos(dec) * math.cos(ra - self.ra0)
        return WIDTH / 2 - x * self.scale, HEIGHT / 2 - y * self.scale


def _hammer(lon: float, lat: float) -> tuple[float, float]:
    """Hammer-Aitoff, centred on RA 180, RA increasing to the left."""
    ra = lon % 360.0
    lam = math.radians(180.0 - ra)  # RA 180 in the middle; larger RA to the left
    phi = math.radians(lat)
    z = math.sqrt(1 + math.cos(phi) * math.cos(lam / 2))
    x = 2 * math.sqrt(2) * math.cos(phi) * math.sin(lam / 2) / z
    y = math.sqrt(2) * math.sin(phi) / z
    scale = min((WIDTH / 2 - MARGIN) / (2 * math.sqrt(2)), (HEIGHT / 2 - MARGIN) / math.sqrt(2))
    return WIDTH / 2 + x * scale, HEIGHT / 2 - y * scale


def _grid_step(radius: float) -> float:
    wanted = radius / 2.5
    return min(GRID_STEPS, key=lambda step: abs(math.log(step / wanted)))


def _polyline(points: list[tuple[float, float] | None]) -> list[str]:
    """Runs of visible points as SVG polylines (a hidden point ends a run)."""
    lines, run = [], []
    for point in points:
        if point is None:
            if len(run) > 1:
                lines.append(" ".join(_fmt(*p) for p in run))
            run = []
        else:
            run.append(point)
    if len(run) > 1:
        lines.append(" ".join(_fmt(*p) for p in run))
    return lines


def _local_map(footprints: list[tuple[str, list[list[float]]]], centre: tuple[float, float, float]) -> SkyMap:
    ra0 = math.degrees(math.atan2(centre[1], centre[0])) % 360.0
    dec0 = math.degrees(math.asin(max(-1.0, min(1.0, centre[2]))))
    radius = max((_angle(centre, _vector(lon, lat)) for _, ring in footprints for lon, lat in ring), default=0.0)
    radius = max(radius * 1.1, 0.05)
    project = _Orthographic(ra0, dec0, radius)
    sky = SkyMap(WIDTH, HEIGHT, "local")
    for basename, ring in footprints:
        points = [project(lon, lat) for lon, lat in ring]
        if all(point is not None for point in points):
            sky.outlines.append(Outline(basename, " ".join(_fmt(*p) for p in points if p is not None)))
    step = _grid_step(radius)
    span = radius * 1.5
    dec_lines = [step * k for k in range(math.ceil((dec0 - span) / step), math.floor((dec0 + span) / step) + 1)]
    for dec in dec_lines:
        if -90 < dec < 90:
            half_width = span / max(math.cos(math.radians(dec)), 0.02)
            samples = [ra0 + half_width * (i / 40 - 1) for i in range(81)]
            sky.grid += _polyline([project(ra, dec) for ra in samples])
    ra_step = step / max(math.cos(math.radians(dec0)), 0.1)
    ra_step = min(GRID_STEPS, key=lambda s: abs(math.log(s / ra_step)))
    for k in range(-12, 13):
        ra = math.floor(ra0 / ra_step) * ra_step + k * ra_step
        samples = [dec0 - span + 2 * span * i / 80 for i in range(81)]
        sky.grid += _polyline([project(ra, dec) if -90 <= dec <= 90 else None for dec in samples])
    sky.caption = f"Centred on RA {ra0:.3f}°, Dec {dec0:+.3f}°; grid every {step:g}° in Dec"
    return sky


def _all_sky_map(footprints: list[tuple[str, list[list[float]]]]) -> SkyMap:
    sky = SkyMap(WIDTH, HEIGHT, "all-sky")
    for basename, ring in footprints:
        points = [_hammer(lon, lat) for lon, lat in ring]
        xs = [x for x, _ in points]
        if max(xs) - min(xs) > WIDTH / 2:  # cut by the map's edge at RA 0: marked at its first vertex
            x, y = points[0]
            points = [(x - 2, y - 2), (x + 2, y - 2), (x + 2, y + 2), (x - 2, y + 2)]
        sky.outlines.append(Outline(basename, " ".join(_fmt(*p) for p in points)))
    left = [_hammer(180.0001, lat) for lat in range(-90, 91, 5)]
    edge = left + [_hammer(179.9999, lat) for lat in range(90, -91, -5)]
    sky.border = "M " + " L ".join(_fmt(*p) for p in edge) + " Z"
    for dec in (-60, -30, 0, 30, 60):
        sky.grid += _polyline([_hammer(ra, dec) for ra in [180.0001 + i * 3.6 for i in range(100)]])
    for ra in range(0, 360, 60):
        sky.grid += _polyline([_hammer(ra + 0.0001, lat) for lat in range(-90, 91, 5)])
    sky.caption = "The whole sky (Hammer-Aitoff), RA 180° in the middle, RA increasing to the left"
    return sky


def sky_map(footprints: list[tuple[str, list[list[float]]]]) -> SkyMap | None:
    """The map of the footprints given, or None when none has one."""
    footprints = [(basename, ring) for basename, ring in footprints if ring]
    if not footprints:
        return None
    centre = _centre([ring for _, ring in footprints])
    if centre is not None:
        radius = max(_angle(centre, _vector(lon, lat)) for _, ring in footprints for lon, lat in ring)
        if radius <= LOCAL_MAP_MAX_RADIUS:
            return _local_map(footprints, centre)
    return _all_sky_map(footprints)
