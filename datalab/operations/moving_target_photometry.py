"""Moving Target Aperture Photometry: Aperture Photometry of a target moving across the field (an asteroid, a comet),
placed in each frame by a linear track fitted to timed positions and found by the brightest light within a search
radius around it."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.time import Time

from datalab.operations.aperture_photometry import MEASUREMENT_INPUTS, AperturePhotometry, Locate
from datalab.operations.base import InputError, InputSpec, OperationError

TRACK_SEARCH_ARCSEC = 10.0
HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Track:
    """A linear track: RA and Dec in degrees as straight lines in time (MJD), fitted by least
    squares to the samples (RA unwrapped around the first one); good over the short arcs of a night's frames."""

    mjd0: float
    ra0: float
    dec0: float
    ra_rate: float  # degrees of RA per day
    dec_rate: float  # degrees per day

    @classmethod
    def fit(cls, samples: list[Mapping]) -> "Track":
        mjd = np.array([float(sample["mjd"]) for sample in samples])
        ra = np.array([float(sample["ra"]) for sample in samples])
        dec = np.array([float(sample["dec"]) for sample in samples])
        ra = ra[0] + (ra - ra[0] + 180) % 360 - 180
        mjd0 = float(mjd.mean())
        if np.ptp(mjd) <= 0:
            raise ValueError("the positions need at least two different times (mjd)")
        ra_rate, ra0 = np.polyfit(mjd - mjd0, ra, 1)
        dec_rate, dec0 = np.polyfit(mjd - mjd0, dec, 1)
        return cls(mjd0, float(ra0), float(dec0), float(ra_rate), float(dec_rate))

    def at(self, mjd: float) -> tuple[float, float]:
        days = mjd - self.mjd0
        return (self.ra0 + self.ra_rate * days) % 360, self.dec0 + self.dec_rate * days

    def described(self) -> dict:
        return {
            "mjd": self.mjd0,
            "ra": self.ra0 % 360,
            "dec": self.dec0,
            # On the sky: RA's rate shrinks by cos(dec).
            "ra_rate_arcsec_per_hour": self.ra_rate * 3600 * math.cos(math.radians(self.dec0)) / HOURS_PER_DAY,
            "dec_rate_arcsec_per_hour": self.dec_rate * 3600 / HOURS_PER_DAY,
        }


class MovingTargetAperturePhotometry(AperturePhotometry):
    name = "Moving Target Aperture Photometry"
    version = 1
    description = (
        "Aperture Photometry of a target moving across the field: a linear track is fitted to its positions at "
        "given times (target_positions, each with ra, dec and mjd), and in each frame the target is the brightest "
        "light within the search radius of the track, calibrated against comparison stars of the frame's source "
        "catalogue. Frames must share one filter; radii are in arcseconds."
    )
    menu_order = 82
    inputs = (
        InputSpec(
            "target_positions",
            "Target Positions",
            "The target's positions at two or more times: ra and dec in decimal degrees, mjd (UTC).",
            "positions",
            minimum=2,
            maximum=1000,
        ),
        InputSpec(
            "track_search_radius",
            "Track Search Radius",
            "How far from the fitted track to look for the target (arcsec).",
            "float",
            minimum=0.5,
            maximum=600.0,
            default=TRACK_SEARCH_ARCSEC,
        ),
        *MEASUREMENT_INPUTS,
    )

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        return params

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        super().validate(params, files)
        try:
            Track.fit(params["target_positions"])
        except ValueError as error:
            raise InputError(f"No track through target_positions: {error}.", "target_positions") from None

    def locator(self, ctx) -> tuple[dict, Locate]:
        samples = ctx.params["target_positions"]
        try:
            track = Track.fit(samples)
        except (ValueError, KeyError, TypeError) as error:
            raise OperationError(f"No track through target_positions: {error}.") from None

        def locate(header: fits.Header, time: Time) -> tuple[float, float]:
            return track.at(float(time.utc.mjd))

        described = {
            "target_positions": [dict(sample) for sample in samples],
            "track": track.described(),
            "track_search_radius": float(ctx.params["track_search_radius"]),
        }
        return described, locate

    def search_radius(self, ctx) -> float:
        return float(ctx.params["track_search_radius"])

    def outside_message(self, described: dict) -> str:
        return (
            "The track fitted to target_positions passes outside every frame at its time, or too near an edge for "
            "the aperture: check the positions and their mjd (UTC), or choose frames taken while the target crossed "
            "them."
        )
