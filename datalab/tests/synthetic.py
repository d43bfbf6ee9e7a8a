"""Synthetic FITS frames for the datalab's tests: known stars on a known TAN WCS, sky, noise, bad pixels, catalogues.

Typical use::

    from datalab.tests.synthetic import make_frame, make_wcs, centroid

    path = make_frame(
        tmp_path / "frame-a.fits", ra=150.0, dec=20.0, shape=(80, 100), scale_arcsec=0.5,
        stars=[(150.001, 20.002, 5000.0)], seed=1, catalog=True,
    )

Conventions: shapes are numpy's (rows, columns); pixel positions returned by helpers are astropy's 0-based
`(x, y)` = (column, row), the centre of cell [row j, column i] being (i, j); the CAT table's x, y, xwin, ywin are
1-based as SExtractor writes them (0-based + 1). A star's `flux` is its total counts: its Gaussian profile is
integrated over each pixel, so the pixels of a star well inside the frame sum to `flux` above the sky.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.special import erf

DEFAULT_RA = 150.0
DEFAULT_DEC = 20.0
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))

Star = tuple[float, float, float]  # (ra, dec, flux): degrees, degrees, total counts


def make_wcs(
    *,
    ra: float = DEFAULT_RA,
    dec: float = DEFAULT_DEC,
    shape: tuple[int, int] = (64, 64),
    scale_arcsec: float = 1.0,
    rotation_deg: float = 0.0,
    crpix: tuple[float, float] | None = None,
) -> WCS:
    """A TAN WCS with (ra, dec) at `crpix` (1-based FITS (x, y); default the frame's centre), square pixels of
    `scale_arcsec`, north up and east left, rotated by `rotation_deg` (the CROTA2 convention)."""
    height, width = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = list(crpix) if crpix is not None else [(width + 1) / 2, (height + 1) / 2]
    scale = scale_arcsec / 3600
    rho = math.radians(rotation_deg)
    cdelt1, cdelt2 = -scale, scale
    wcs.wcs.cd = [
        [cdelt1 * math.cos(rho), -cdelt2 * math.sin(rho)],
        [cdelt1 * math.sin(rho), cdelt2 * math.cos(rho)],
    ]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    return wcs


def wcs_header(wcs: WCS) -> fits.Header:
    """The WCS as CD-matrix header cards, as pipelines write them."""
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = wcs.wcs.ctype
    header["CUNIT1"], header["CUNIT2"] = "deg", "deg"
    header["CRVAL1"], header["CRVAL2"] = (float(v) for v in wcs.wcs.crval)
    header["CRPIX1"], header["CRPIX2"] = (float(v) for v in wcs.wcs.crpix)
    cd = wcs.wcs.cd
    header["CD1_1"], header["CD1_2"] = float(cd[0][0]), float(cd[0][1])
    header["CD2_1"], header["CD2_2"] = float(cd[1][0]), float(cd[1][1])
    header["RADESYS"] = "ICRS"
    header["EQUINOX"] = 2000.0
    return header


def star_pixels(wcs: WCS, stars: Iterable[Star]) -> list[tuple[float, float]]:
    """The 0-based (x, y) pixel positions of stars on a WCS."""
    return [tuple(float(v) for v in wcs.world_to_pixel_values(ra, dec)) for ra, dec, _ in stars]


def render_stars(
    shape: tuple[int, int], positions: Iterable[tuple[float, float]], fluxes: Iterable[float], *, sigma_px: float
) -> np.ndarray:
    """Circular Gaussian stars (float64) at 0-based (x, y) positions, each integrated over the pixels (erf), so a
    star's pixels sum to its flux when it lies well inside the frame."""
    height, width = shape
    image = np.zeros(shape, np.float64)
    reach = max(3, math.ceil(6 * sigma_px))
    scale = math.sqrt(2) * sigma_px
    for (x, y), flux in zip(positions, fluxes, strict=True):
        left, right = max(0, math.floor(x) - reach), min(width, math.floor(x) + reach + 2)
        bottom, top = max(0, math.floor(y) - reach), min(height, math.floor(y) + reach + 2)
        if left >= right or bottom >= top:
            continue
        columns = np.arange(left, right + 1) - 0.5  # cell edges
        rows = np.arange(bottom, top + 1) - 0.5
        along_x = np.diff(erf((columns - x) / scale)) / 2
        along_y = np.diff(erf((rows - y) / scale)) / 2
        image[bottom:top, left:right] += flux * np.outer(along_y, along_x)
    return image


def make_frame(
    path: Path | str,
    *,
    ra: float = DEFAULT_RA,
    dec: float = DEFAULT_DEC,
    shape: tuple[int, int] = (64, 64),
    scale_arcsec: float = 1.0,
    rotation_deg: float = 0.0,
    crpix: tuple[float, float] | None = None,
    stars: Sequence[Star] = (),
    fwhm_arcsec: float = 3.0,
    sky: float = 100.0,
    noise: float = 5.0,
    gain: float | None = None,
    seed: int = 0,
    compressed: bool = False,
    bpm: np.ndarray | Iterable[tuple[int, int]] | None = None,
    catalog: bool = False,
    header_extra: Mapping[str, Any] | None = None,
    wcs: bool = True,
    primary: bool = False,
    dtype: Any = np.float32,
    exptime: float = 30.0,
    date_obs: str = "2024-01-01T00:00:00.000",
    filter_name: str = "rp",
    object_name: str = "SYNTHETIC",
) -> Path:
    """Write a synthetic frame and return its path.

    The image is `sky` plus Gaussian `stars` (ra, dec, total flux; FWHM `fwhm_arcsec` on the sky, so the same star
    spans more pixels at a finer scale), with photon noise when a `gain` (electrons per count) is given, plus Gaussian
    noise of standard deviation `noise` (seeded by `seed`) on a TAN
    WCS (see `make_wcs`; `wcs=False` writes no WCS cards). Layout as the archive's pipeline writes frames: an empty
    primary HDU and an image extension named SCI (`primary=True` puts the image in the primary HDU instead, without
    a name); `compressed=True` writes SCI as a losslessly tile-compressed CompImageHDU (GZIP_2, no quantisation).

    - `bpm`: a mask of the image's shape (non-zero = bad) or (row, column) pairs, written as a uint8 `BPM` extension
      (compressed when the frame is);
    - `catalog`: a `CAT` binary table of the stars inside the frame with SExtractor's columns x, y, xwin, ywin
      (1-based), ra, dec, flux, fluxerr, mag (instrumental, -2.5 log10 flux), magerr;
    - `header_extra`: cards set last on the SCI header (e.g. {"WCSERR": 4});
    - `dtype`: the stored pixel type (integers are rounded; np.uint16 is stored with BZERO 32768 as FITS does).

    The header carries DATE-OBS, MJD-OBS, EXPTIME, FILTER and OBJECT.
    """
    path = Path(path)
    frame_wcs = make_wcs(ra=ra, dec=dec, shape=shape, scale_arcsec=scale_arcsec, rotation_deg=rotation_deg, crpix=crpix)
    positions = star_pixels(frame_wcs, stars)
    sigma_px = fwhm_arcsec / FWHM_PER_SIGMA / scale_arcsec
    image = sky + render_stars(shape, positions, [flux for _, _, flux in stars], sigma_px=sigma_px)
    rng = np.random.default_rng(seed)
    if gain:
        image = rng.poisson(np.clip(image, 0, None) * gain) / gain
    if noise:
        image += rng.normal(0.0, noise, size=shape)
    data = _stored(image, dtype)

    header = fits.Header()
    header["OBJECT"] = object_name
    header["DATE-OBS"] = date_obs
    header["MJD-OBS"] = _mjd(date_obs)
    header["EXPTIME"] = exptime
    header["FILTER"] = filter_name
    header["BUNIT"] = "counts"
    if wcs:
        header.update(wcs_header(frame_wcs))
    for keyword, value in (header_extra or {}).items():
        header[keyword] = value

    hdus: list = []
    if primary:
        hdus.append(fits.PrimaryHDU(data, header=header))
    else:
        hdus.append(fits.PrimaryHDU())
        if compressed:
            hdus.append(fits.CompImageHDU(data, header=header, name="SCI", compression_type="GZIP_2", quantize_level=0))
        else:
            hdus.append(fits.ImageHDU(data, header=header, name="SCI"))
    if bpm is not None:
        mask = _mask(bpm, shape)
        if compressed:
            hdus.append(fits.CompImageHDU(mask, name="BPM", compression_type="GZIP_2"))
        else:
            hdus.append(fits.ImageHDU(mask, name="BPM"))
    if catalog:
        hdus.append(_catalog_hdu(frame_wcs, stars, positions, shape, noise=noise, sigma_px=sigma_px))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def _stored(image: np.ndarray, dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return image.astype(dtype)
    limits = np.iinfo(dtype)
    return np.clip(np.rint(image), limits.min, limits.max).astype(dtype)


def _mask(bpm, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(bpm, np.ndarray) and bpm.shape == tuple(shape):
        return (bpm != 0).astype(np.uint8)
    mask = np.zeros(shape, np.uint8)
    for row, column in bpm:
        mask[row, column] = 1
    return mask


def _mjd(date_obs: str) -> float:
    from astropy.time import Time

    return float(Time(date_obs, format="isot", scale="utc").mjd)


def _catalog_hdu(wcs: WCS, stars, positions, shape, *, noise: float, sigma_px: float) -> fits.BinTableHDU:
    height, width = shape
    rows = []
    for (ra, dec, flux), (x, y) in zip(stars, positions, strict=True):
        if not (-0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5):
            continue
        # Photon noise and the sky noise over an aperture of 2 FWHM across.
        fluxerr = math.sqrt(max(flux, 0) + math.pi * (2.355 * sigma_px) ** 2 * noise**2)
        mag = -2.5 * math.log10(flux) if flux > 0 else math.nan
        magerr = 1.0857 * fluxerr / flux if flux > 0 else math.nan
        rows.append((x + 1, y + 1, x + 1, y + 1, ra, dec, flux, fluxerr, mag, magerr))
    names = ("x", "y", "xwin", "ywin", "ra", "dec", "flux", "fluxerr", "mag", "magerr")
    columns = np.array(rows, dtype=float).reshape(len(rows), len(names))
    return fits.BinTableHDU.from_columns(
        [fits.Column(name=name, format="D", array=columns[:, number]) for number, name in enumerate(names)],
        name="CAT",
    )


def centroid(
    image: np.ndarray, x: float, y: float, *, radius: float = 5.0, iterations: int = 10
) -> tuple[float, float]:
    """The intensity-weighted centroid (0-based x, y) of the positive excess over the local background (the median
    of an annulus from 2 to 3 radii) inside `radius` of the guess, refined a few times; NaN pixels are left out."""
    height, width = image.shape
    rows, columns = np.mgrid[0:height, 0:width]
    for _ in range(iterations):
        distance = np.hypot(columns - x, rows - y)
        annulus = (distance >= 2 * radius) & (distance <= 3 * radius) & np.isfinite(image)
        background = float(np.median(image[annulus])) if annulus.any() else 0.0
        inside = (distance <= radius) & np.isfinite(image)
        weights = np.clip(image[inside] - background, 0, None)
        if weights.sum() <= 0:
            raise ValueError(f"No light above the background within {radius} px of ({x:.2f}, {y:.2f})")
        new_x = float((columns[inside] * weights).sum() / weights.sum())
        new_y = float((rows[inside] * weights).sum() / weights.sum())
        if abs(new_x - x) < 1e-4 and abs(new_y - y) < 1e-4:
            return new_x, new_y
        x, y = new_x, new_y
    return x, y


def aperture_flux(image: np.ndarray, x: float, y: float, *, radius: float) -> float:
    """The sum over pixels centred within `radius` of (x, y) (0-based) minus the background (median of an annulus
    from 1.5 to 2.5 radii) per pixel."""
    height, width = image.shape
    rows, columns = np.mgrid[0:height, 0:width]
    distance = np.hypot(columns - x, rows - y)
    annulus = (distance >= 1.5 * radius) & (distance <= 2.5 * radius) & np.isfinite(image)
    inside = distance <= radius
    background = float(np.median(image[annulus]))
    return float(np.nansum(image[inside]) - background * inside.sum())


PHOTOMETRY_SHAPE = (300, 300)
# Comparison stars on a 50-pixel grid (1 arcsec pixels) around the frame's centre, far from each other and the edges.
COMPARISON_OFFSETS = [(-100, -100), (-50, 100), (0, -100), (50, 50), (100, 0), (-100, 50), (100, -100), (-50, -50)]
COMPARISON_OFFSETS.append((0, 100))
COMPARISON_MAGS = [13.9, 14.3, 14.6, 14.8, 15.0, 15.3, 15.5, 15.7, 16.0]


def offset_position(centre: tuple[float, float], dx_px: float, dy_px: float) -> tuple[float, float]:
    """RA, Dec of an offset in 1-arcsec pixels from `centre` (east is left: RA grows towards -x)."""
    ra, dec = centre
    return ra - dx_px / 3600 / math.cos(math.radians(dec)), dec + dy_px / 3600


def photometry_frame(
    path: Path | str,
    *,
    centre: tuple[float, float] = (DEFAULT_RA, DEFAULT_DEC),
    target: tuple[float, float] | None = None,
    target_mag: float = 15.2,
    zero_point: float = 28.0,
    comparisons: int = 9,
    band: str = "rp",
    date_obs: str = "2024-03-01T02:00:00.000",
    exptime: float = 60.0,
    seed: int = 0,
    catalog_errors: float = 0.01,
    wrong_catalog_mag: int | None = None,
    sky: float = 200.0,
    noise: float = 5.0,
    gain: float | None = None,
    shape: tuple[int, int] = PHOTOMETRY_SHAPE,
    header_extra: Mapping[str, Any] | None = None,
) -> Path:
    """A frame for aperture photometry (1 arcsec pixels, FWHM 3 arcsec): a target at `target` (default the frame's
    centre) and comparison stars at COMPARISON_OFFSETS from the centre, each with 10^(-0.4 (mag - zero_point))
    counts, and a CAT table of their true (calibrated) magnitudes with `catalog_errors`, the target's included;
    `wrong_catalog_mag` adds 0.5 mag to that catalogue row. GAIN is `gain` (1 without photon noise), SATURATE 1e7."""
    centre_ra, centre_dec = centre
    target = target or centre
    stars = [(target[0], target[1], 10 ** (-0.4 * (target_mag - zero_point)))]
    catalog_rows = [(target[0], target[1], target_mag)]
    for (dx, dy), mag in list(zip(COMPARISON_OFFSETS, COMPARISON_MAGS, strict=True))[:comparisons]:
        ra, dec = offset_position(centre, dx, dy)
        stars.append((ra, dec, 10 ** (-0.4 * (mag - zero_point))))
        catalog_rows.append((ra, dec, mag + (0.5 if len(catalog_rows) == wrong_catalog_mag else 0.0)))
    make_frame(
        path,
        ra=centre_ra,
        dec=centre_dec,
        shape=shape,
        scale_arcsec=1.0,
        stars=stars,
        fwhm_arcsec=3.0,
        sky=sky,
        noise=noise,
        gain=gain,
        seed=seed,
        exptime=exptime,
        date_obs=date_obs,
        filter_name=band,
        header_extra={"GAIN": gain or 1.0, "SATURATE": 1e7, **(header_extra or {})},
    )
    with fits.open(path, mode="update") as hdul:
        frame_wcs = WCS(hdul["SCI"].header)
        ras = np.array([row[0] for row in catalog_rows])
        decs = np.array([row[1] for row in catalog_rows])
        x, y = frame_wcs.world_to_pixel_values(ras, decs)
        columns = [
            fits.Column(name="x", format="D", array=np.asarray(x) + 1),
            fits.Column(name="y", format="D", array=np.asarray(y) + 1),
            fits.Column(name="ra", format="D", array=ras),
            fits.Column(name="dec", format="D", array=decs),
            fits.Column(name="mag", format="D", array=np.array([row[2] for row in catalog_rows])),
            fits.Column(name="magerr", format="D", array=np.full(len(catalog_rows), catalog_errors)),
        ]
        hdul.append(fits.BinTableHDU.from_columns(columns, name="CAT"))
    return Path(path)
