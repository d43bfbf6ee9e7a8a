"""Synthetic FITS files for the analysis tests: images with known stars and a known TAN WCS, CAT tables, BPMs, plain
or tile-compressed, of any BITPIX."""

import math
from pathlib import Path

import numpy as np
from astropy.io import fits

RA, DEC = 150.0, 30.0


def tan_header(
    naxis1: int,
    naxis2: int,
    *,
    ra: float = RA,
    dec: float = DEC,
    arcsec_per_pixel: float = 0.5,
    rotation: float = 0.0,
    style: str = "cd",
) -> fits.Header:
    """A TAN WCS centred on the image, north up and east left when `rotation` (degrees) is 0; written as a CD matrix
    or as PC and CDELT."""
    scale = arcsec_per_pixel / 3600
    cos, sin = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    header = fits.Header()
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = ra, dec
    header["CRPIX1"], header["CRPIX2"] = (naxis1 + 1) / 2, (naxis2 + 1) / 2
    if style == "cd":
        header["CD1_1"], header["CD1_2"] = -scale * cos, scale * sin
        header["CD2_1"], header["CD2_2"] = scale * sin, scale * cos
    else:
        header["CDELT1"], header["CDELT2"] = -scale, scale
        header["PC1_1"], header["PC1_2"] = cos, -sin
        header["PC2_1"], header["PC2_2"] = sin, cos
    header["RADESYS"] = "ICRS"
    header["WCSERR"] = 0
    return header


def cell_centres(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Edge coordinates (x, y) of every pixel centre: cell [j, i] is centred at (i + 0.5, j + 0.5)."""
    rows, columns = np.indices(shape)
    return columns + 0.5, rows + 0.5


def gaussian_star(
    shape: tuple[int, int], x: float, y: float, *, amplitude: float = 1000.0, sigma: float = 1.5
) -> np.ndarray:
    """A circular Gaussian centred at edge coordinates (x, y), sampled at pixel centres."""
    xs, ys = cell_centres(shape)
    return amplitude * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def catalog_hdu(columns: dict[str, np.ndarray]) -> fits.BinTableHDU:
    """A CAT table with the given float64 columns (x, y, xwin, ywin 1-based as SExtractor writes them)."""
    return fits.BinTableHDU.from_columns(
        [fits.Column(name=name, format="D", array=np.asarray(values, np.float64)) for name, values in columns.items()],
        name="CAT",
    )


def write_frame(
    path: Path,
    data: np.ndarray,
    *,
    header: fits.Header | None = None,
    compressed: bool = False,
    catalog: dict[str, np.ndarray] | None = None,
    bpm: np.ndarray | None = None,
    extname: str | None = "SCI",
) -> Path:
    """A file with an empty primary HDU and the image as extension `extname` (or in the primary HDU when None),
    BITPIX from the array's dtype; tile compression is lossless (RICE for integers, GZIP_2 without quantisation for
    floats)."""
    header = fits.Header() if header is None else header.copy()
    hdus: list = []
    if extname is None:
        hdus.append(fits.PrimaryHDU(data, header))
    else:
        hdus.append(fits.PrimaryHDU())
        if compressed:
            lossless = (
                {"compression_type": "GZIP_2", "quantize_level": 0}
                if np.issubdtype(data.dtype, np.floating)
                else {"compression_type": "RICE_1"}
            )
            hdus.append(fits.CompImageHDU(data, header, name=extname, **lossless))
        else:
            hdus.append(fits.ImageHDU(data, header, name=extname))
    if bpm is not None:
        hdus.append(fits.ImageHDU(bpm.astype(np.uint8), name="BPM"))
    if catalog is not None:
        hdus.append(catalog_hdu(catalog))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
