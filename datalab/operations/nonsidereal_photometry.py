"""Non-Sidereal Aperture Photometry: Aperture Photometry of a target whose position each frame's header gives (the
telescope's catalogue position of a solar-system body, CAT-RA and CAT-DEC), for frames taken while tracking it."""

import math

import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time

from datalab.operations.aperture_photometry import MEASUREMENT_INPUTS, AperturePhotometry, FrameExcluded, Locate

RA_KEYWORD, DEC_KEYWORD = "CAT-RA", "CAT-DEC"


def header_position(header: fits.Header) -> tuple[float, float]:
    """The target's (ra, dec) in degrees from CAT-RA (sexagesimal hours, or degrees as a number) and CAT-DEC
    (sexagesimal or decimal degrees); FrameExcluded when they are missing or unreadable."""
    ra, dec = header.get(RA_KEYWORD), header.get(DEC_KEYWORD)
    if ra in (None, "", "N/A") or dec in (None, "", "N/A"):
        raise FrameExcluded(f"The header has no {RA_KEYWORD}/{DEC_KEYWORD} to place the target.")
    try:
        if isinstance(ra, str) and ":" in ra:
            coord = SkyCoord(ra.strip(), str(dec).strip(), unit=(u.hourangle, u.deg))
        else:
            coord = SkyCoord(float(ra) * u.deg, float(dec) * u.deg)
    except (TypeError, ValueError):
        raise FrameExcluded(f"The header's {RA_KEYWORD} {ra!r} / {DEC_KEYWORD} {dec!r} is not a position.") from None
    position = (float(coord.ra.deg), float(coord.dec.deg))
    if not all(math.isfinite(value) for value in position):
        raise FrameExcluded(f"The header's {RA_KEYWORD} {ra!r} / {DEC_KEYWORD} {dec!r} is not a position.")
    return position


def _locate(header: fits.Header, time: Time) -> tuple[float, float]:
    return header_position(header)


class NonSiderealAperturePhotometry(AperturePhotometry):
    name = "Non-Sidereal Aperture Photometry"
    version = 1
    description = (
        "Aperture Photometry of a moving target tracked by the telescope: its position in each frame is the one the "
        f"frame's header gives ({RA_KEYWORD}, {DEC_KEYWORD}), calibrated against comparison stars of the frame's "
        "source catalogue. Frames must share one filter; radii are in arcseconds."
    )
    menu_order = 81
    inputs = MEASUREMENT_INPUTS

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        return params

    def locator(self, ctx) -> tuple[dict, Locate]:
        return {"target_position_source": f"{RA_KEYWORD}/{DEC_KEYWORD} of each frame's header"}, _locate

    def outside_message(self, described: dict) -> str:
        return (
            f"The target's position from the frames' {RA_KEYWORD}/{DEC_KEYWORD} lies outside every frame, or too near "
            "an edge for the aperture: choose frames taken while tracking the target, or use Moving Target Aperture "
            "Photometry with its positions."
        )
