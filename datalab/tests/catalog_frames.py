"""Synthetic frames with source catalogues for the photometry tests: a tiny SCI image with a TAN WCS and the header's
time keys, and a SExtractor-like CAT table of known stars."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

TARGET_RA, TARGET_DEC = 150.0, 2.0
SHAPE = (48, 48)  # rows, columns
PIXEL_SCALE_ARCSEC = 1.0
ZEROPOINT = 25.0
MJD_TO_JD = 2400000.5


@dataclass
class Star:
    ra: float
    dec: float
    mag: float
    magerr: float = 0.01

    @property
    def flux(self) -> float:
        return 10 ** (-0.4 * (self.mag - ZEROPOINT)) if math.isfinite(self.mag) else math.nan

    @property
    def fluxerr(self) -> float:
        return self.flux * self.magerr / 1.0857


def offset(east_arcsec: float = 0.0, north_arcsec: float = 0.0) -> tuple[float, float]:
    """A position offset from the target (east along the small circle, which is close enough at these scales)."""
    dec = TARGET_DEC + north_arcsec / 3600
    ra = TARGET_RA + east_arcsec / 3600 / math.cos(math.radians(TARGET_DEC))
    return ra, dec


def frame_wcs(center: tuple[float, float] = (TARGET_RA, TARGET_DEC)) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(center)
    wcs.wcs.crpix = [(SHAPE[1] + 1) / 2, (SHAPE[0] + 1) / 2]
    scale = PIXEL_SCALE_ARCSEC / 3600
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]  # north up, east left
    return wcs


def write_frame(
    path: Path,
    stars: list[Star],
    *,
    mjd_obs: float | None = 60000.0,
    date_obs: str | None = None,
    exptime: float | None = 60.0,
    band: str = "rp",
    with_cat: bool = True,
    with_mag: bool = True,
    with_radec: bool = True,
    primary_image: bool = False,
) -> Path:
    """A frame of the stars: a SCI image (or, with `primary_image`, the image in the primary HDU and no SCI) with a
    TAN WCS, and a CAT table whose x, y are 1-based FITS pixels; the optional columns and HDUs can be left out."""
    wcs = frame_wcs()
    header = wcs.to_header()
    header["FILTER"] = band
    if mjd_obs is not None:
        header["MJD-OBS"] = mjd_obs
    if date_obs is not None:
        header["DATE-OBS"] = date_obs
    if exptime is not None:
        header["EXPTIME"] = exptime

    ras = np.array([star.ra for star in stars], dtype=float)
    decs = np.array([star.dec for star in stars], dtype=float)
    x, y = wcs.all_world2pix(ras, decs, 1) if stars else (np.empty(0), np.empty(0))
    rows, columns = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    image = np.full(SHAPE, 100.0, dtype=np.float32)
    for star, column, row in zip(stars, x - 1, y - 1, strict=True):
        if math.isfinite(star.flux):
            blob = np.exp(-((columns - column) ** 2 + (rows - row) ** 2) / (2 * 1.5**2))
            image += (star.flux / (2 * math.pi * 1.5**2) * blob).astype(np.float32)

    if primary_image:
        hdus = [fits.PrimaryHDU(image, header=header)]
    else:
        hdus = [fits.PrimaryHDU(), fits.ImageHDU(image, header=header, name="SCI")]
    if with_cat:
        columns_out = [
            fits.Column(name="x", format="D", array=x),
            fits.Column(name="y", format="D", array=y),
        ]
        if with_radec:
            columns_out += [
                fits.Column(name="ra", format="D", array=ras),
                fits.Column(name="dec", format="D", array=decs),
            ]
        columns_out += [
            fits.Column(name="flux", format="D", array=np.array([star.flux for star in stars], dtype=float)),
            fits.Column(name="fluxerr", format="D", array=np.array([star.fluxerr for star in stars], dtype=float)),
        ]
        if with_mag:
            columns_out += [
                fits.Column(name="mag", format="D", array=np.array([star.mag for star in stars], dtype=float)),
                fits.Column(name="magerr", format="D", array=np.array([star.magerr for star in stars], dtype=float)),
            ]
        hdus.append(fits.BinTableHDU.from_columns(columns_out, name="CAT"))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def field_stars() -> list[Star]:
    """Constant comparison stars around the target, far beyond the match radius."""
    return [
        Star(*offset(east_arcsec=12, north_arcsec=5), mag=14.2),
        Star(*offset(east_arcsec=-9, north_arcsec=-14), mag=15.8),
        Star(*offset(east_arcsec=3, north_arcsec=16), mag=13.1),
    ]
