"""The sky footprint of a FITS file from its header (docs/frames.md, "Footprint"): a circle drawn from RADIUS, RA and
DEC, or the image's outline through its celestial WCS. Pure functions over header dicts."""

import logging
import math
import warnings

import numpy as np

from frames.values import normalise_longitude

logger = logging.getLogger(__name__)

CIRCLE_VERTICES = 16


def is_set(header: dict, *keys: str) -> bool:
    """Whether every keyword is present with a value (not None, not empty)."""
    return all(header.get(key) not in (None, "") for key in keys)


def footprint_vertices(header: dict, *, name: str = "") -> list[tuple[float, float]] | None:
    """The footprint's boundary as (longitude, latitude) vertices in boundary order, longitudes in (-180, 180] as
    footprints are stored (RA 180 stays 180).

    RADIUS (arcsec) with RA (hours) and DEC: a circle on the sphere. Otherwise a celestial WCS over NAXIS1 x NAXIS2
    (no NAXIS3). None when neither applies or the WCS cannot be evaluated (logged with `name`).
    """
    try:
        if is_set(header, "RADIUS", "RA", "DEC"):
            points = _circle(header)
        elif is_set(header, "NAXIS1", "NAXIS2") and not is_set(header, "NAXIS3"):
            points = _wcs_boundary(header)
        else:
            return None
    except Exception as exc:  # astropy and wcslib raise many types for malformed headers; a footprint is optional
        logger.warning("No footprint for %s: %s", name or "a file", exc)
        return None
    if points is None:
        return None
    if not all(math.isfinite(lon) and math.isfinite(lat) for lon, lat in points):
        logger.warning("No footprint for %s: the WCS gives non-finite coordinates", name or "a file")
        return None
    # A WCS with a negative CRVAL1 gives negative longitudes (down to -360), and a circle may reach half a turn past
    # its centre: into one turn first, then mapped as stored.
    return [(normalise_longitude(_one_turn(lon)), max(-90.0, min(90.0, lat))) for lon, lat in points]


def _one_turn(lon: float) -> float:
    """`lon` in [0, 360)."""
    lon %= 360.0
    return 0.0 if lon == 360.0 else lon  # -1e-15 % 360 rounds to 360.0


def footprint(header: dict, *, name: str = "") -> dict | None:
    """The ingest body's `area`: a closed GeoJSON Polygon with RA in [0, 360), as the ingester posts footprints."""
    vertices = footprint_vertices(header, name=name)
    if vertices is None:
        return None
    ring = [[_one_turn(lon), lat] for lon, lat in vertices]
    return {"type": "Polygon", "coordinates": [[*ring, list(ring[0])]]}


def _circle(header: dict) -> list[tuple[float, float]] | None:
    """CIRCLE_VERTICES points at RADIUS from (RA, DEC) on the sphere, by bearing (the ingester drew a box)."""
    import astropy.units as u
    from astropy.coordinates import Angle

    centre_ra = math.radians(Angle(header["RA"], unit=u.hourangle).deg)
    centre_dec = math.radians(Angle(header["DEC"], unit=u.deg).deg)
    radius = math.radians(float(header["RADIUS"]) / 3600.0)
    if not 0 < radius < math.pi / 2:
        return None
    points = []
    for index in range(CIRCLE_VERTICES):
        bearing = 2 * math.pi * index / CIRCLE_VERTICES
        sin_dec = math.sin(centre_dec) * math.cos(radius) + math.cos(centre_dec) * math.sin(radius) * math.cos(bearing)
        dec = math.asin(max(-1.0, min(1.0, sin_dec)))
        ra = centre_ra + math.atan2(
            math.sin(bearing) * math.sin(radius) * math.cos(centre_dec),
            math.cos(radius) - math.sin(centre_dec) * sin_dec,
        )
        points.append((math.degrees(ra), math.degrees(dec)))
    return points


def _wcs_boundary(header: dict) -> list[tuple[float, float]] | None:
    """The outer corners and edge midpoints of the image, through the full WCS (SIP included), in boundary order."""
    from astropy.io import fits
    from astropy.wcs import WCS

    cards = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for keyword, value in header.items():
            if value is None or not isinstance(value, str | int | float | bool):
                continue
            try:
                cards[keyword] = value
            except (ValueError, KeyError, TypeError):
                continue  # a keyword FITS cannot hold is no WCS keyword
        wcs = WCS(cards, naxis=2, relax=True)
        if not wcs.has_celestial or wcs.naxis != 2:
            return None
        width, height = float(header["NAXIS1"]), float(header["NAXIS2"])
        # FITS pixel centres are integers from 1, so the image's outer edges lie at 0.5 and N + 0.5.
        left, right, bottom, top = 0.5, width + 0.5, 0.5, height + 0.5
        mid_x, mid_y = (left + right) / 2, (bottom + top) / 2
        pixels = np.array(
            [
                (left, bottom),
                (mid_x, bottom),
                (right, bottom),
                (right, mid_y),
                (right, top),
                (mid_x, top),
                (left, top),
                (left, mid_y),
            ]
        )
        world = wcs.all_pix2world(pixels, 1)
    longitude, latitude = world[:, wcs.wcs.lng], world[:, wcs.wcs.lat]
    return [(float(lon), float(lat)) for lon, lat in zip(longitude, latitude, strict=True)]
