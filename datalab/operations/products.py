"""The datalab's image products: lossless FITS with provenance, JPG previews, colour composites and TIFFs."""

import datetime
import io
import json
import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.visualization import ZScaleInterval
from astropy.wcs import WCS
from PIL import Image

logger = logging.getLogger(__name__)

COVERAGE_EXTENSION = "COVERAGE"
GAMMA = 2.5
JPEG_QUALITY = 95
SMALL_SIZE = 200  # the small preview fits in a square of this side
ZSCALE_CONTRAST = 0.1

# ---------------------------------------------------------------------------------------------------------------------
# FITS

# Cards that describe how the grid input was stored, not what it shows: the product's HDU writes its own.
_STRUCTURAL = re.compile(
    r"^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|EXTEND|PCOUNT|GCOUNT|GROUPS|BSCALE|BZERO|BLANK|EXTNAME|EXTVER|EXTLEVEL|INHERIT"
    r"|CHECKSUM|DATASUM|ZIMAGE|ZSIMPLE|ZTENSION|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT|ZHECKSUM|ZDATASUM|ZBITPIX|ZNAXIS\d*"
    r"|ZTILE\d+|ZCMPTYPE|ZNAME\d+|ZVAL\d+|ZQUANTIZ|ZDITHER0|ZMASKCMP|TFIELDS|TTYPE\d+|TFORM\d+)$"
)
# The primary WCS's cards (alternate WCSs, with a letter suffix, describe the same grid and are kept).
_WCS_CARD = re.compile(
    r"^(WCSAXES|WCSNAME|CRPIX\d+|CRVAL\d+|CDELT\d+|CUNIT\d+|CTYPE\d+|CROTA\d+|CD\d+_\d+|PC\d+_\d+|PV\d+_\d+|PS\d+_\d+"
    r"|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$"
)
# Time cards WCS.to_header() adds beside the celestial ones; the grid input's own are kept as they were.
_WCS_TIME_CARDS = re.compile(r"^(DATE|MJD)(-OBS|-BEG|-AVG|-END|REF|REFI|REFF)$|^(TIMESYS|TIMEUNIT|TREFPOS|TREFDIR)$")


@dataclass(frozen=True)
class Provenance:
    """What a product records of how it was made: the run key, the operation, its inputs' labels (basename and
    version) and parameters."""

    key: str
    operation: str
    version: int
    inputs: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx, inputs: Iterable[str], params: Mapping[str, Any] | None = None) -> "Provenance":
        """The provenance of a product of the run `ctx` (its key and operation) made from these inputs' labels."""
        return cls(
            ctx.key,
            ctx.operation.name,
            ctx.operation.version,
            tuple(inputs),
            dict(ctx.params if params is None else params),
        )


def science_header(header: fits.Header | None, wcs: WCS | None) -> fits.Header:
    """The grid input's header for a product's SCI: structural and checksum cards removed, and the WCS replaced by
    the output grid's when there is one."""
    result = fits.Header()
    if header is not None:
        for card in header.cards:
            keyword = card.keyword
            if _STRUCTURAL.match(keyword) or (wcs is not None and _WCS_CARD.match(keyword)):
                continue
            result.append(card, end=True)
    if wcs is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            wcs_header = wcs.to_header(relax=True)  # relax keeps SIP distortion terms
        for card in wcs_header.cards:
            if not _WCS_TIME_CARDS.match(card.keyword):
                result[card.keyword] = (card.value, card.comment)
    return result


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def primary_header(provenance: Provenance) -> fits.Header:
    header = fits.Header()
    header["DLAB_KEY"] = (provenance.key, "datalab run key")
    header["DLAB_OP"] = (_ascii(provenance.operation), "datalab operation")
    header["DLAB_VER"] = (provenance.version, "datalab operation code version")
    header["DATE"] = (datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "UTC time of writing")
    header["NCOMBINE"] = (len(provenance.inputs), "number of inputs")
    for number, label in enumerate(provenance.inputs, start=1):
        header.add_history(_ascii(f"Input {number}: {label}"))
    for name in sorted(provenance.params):
        value = json.dumps(provenance.params[name], sort_keys=True, default=str)
        header.add_history(_ascii(f"Parameter {name} = {value}"))
    return header


def write_fits_product(
    path: Path,
    *,
    data: np.ndarray,
    provenance: Provenance,
    header: fits.Header | None = None,
    wcs: WCS | None = None,
    coverage: np.ndarray | None = None,
    updates: Mapping[str, Any] | None = None,
    removals: Iterable[str] = (),
) -> Path:
    """Write a product: a primary HDU with the provenance cards, `SCI` (float32, the grid input's header with the
    output grid's WCS, then `updates` set and `removals` removed) and, when given, `COVERAGE` (int16).

    Plain image HDUs, so the pixels read back bit for bit.
    """
    sci_header = science_header(header, wcs)
    for keyword, value in (updates or {}).items():
        sci_header[keyword] = value
    for keyword in removals:
        sci_header.remove(keyword, ignore_missing=True, remove_all=True)
    hdus = [
        fits.PrimaryHDU(header=primary_header(provenance)),
        fits.ImageHDU(np.asarray(data, dtype=np.float32), header=sci_header, name="SCI"),
    ]
    if coverage is not None:
        hdus.append(fits.ImageHDU(np.asarray(coverage, dtype=np.int16), name=COVERAGE_EXTENSION))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)  # cards of the input's header astropy would rewrite
        fits.HDUList(hdus).writeto(path, overwrite=True, checksum=True, output_verify="silentfix")
    return Path(path)


def publish_image_product(
    ctx,
    *,
    data: np.ndarray,
    provenance: Provenance,
    header: fits.Header | None = None,
    wcs: WCS | None = None,
    coverage: np.ndarray | None = None,
    updates: Mapping[str, Any] | None = None,
    removals: Iterable[str] = (),
    index: int | None = None,
) -> dict:
    """Write a product's FITS in the run's scratch directory, render its previews and publish it at once."""
    name = ctx.key if index is None else f"{ctx.key}-{index}"
    path = write_fits_product(
        Path(ctx.scratch) / f"{name}.fits",
        data=data,
        provenance=provenance,
        header=header,
        wcs=wcs,
        coverage=coverage,
        updates=updates,
        removals=removals,
    )
    large, small = render_previews(data)
    return ctx.add_file_product(fits_path=path, large_jpg=large, small_jpg=small, index=index)


# ---------------------------------------------------------------------------------------------------------------------
# Previews and TIFFs. Every renderer takes arrays as FITS stores them (row 0 first) and flips them, so that FITS row 0
# is at the bottom of the picture.


def zscale_limits(image: np.ndarray) -> tuple[float, float]:
    """astropy's ZScaleInterval(contrast=0.1) limits over the finite pixels; (0.0, 1.0) when there are none."""
    finite = np.asarray(image)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        zmin, zmax = ZScaleInterval(contrast=ZSCALE_CONTRAST).get_limits(finite)
    return float(zmin), float(zmax)


def scaled(image: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    """The image clipped linearly to [0, 1] between the limits (float32), NaN as 0; a zero range puts everything at
    or above `zmax` at 1."""
    span = float(zmax) - float(zmin)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if span > 0:
            values = (np.asarray(image, dtype=np.float32) - np.float32(zmin)) / np.float32(span)
        else:
            values = (np.asarray(image, dtype=np.float32) >= zmax).astype(np.float32)
    np.clip(values, 0, 1, out=values)
    values[np.isnan(values)] = 0
    return values


def _gamma8(values: np.ndarray) -> np.ndarray:
    """[0, 1] values shown with gamma 2.5 as 8-bit levels."""
    return np.rint(np.power(values, np.float32(1 / GAMMA)) * np.float32(255)).astype(np.uint8)


def gray8(image: np.ndarray, zmin: float | None = None, zmax: float | None = None) -> np.ndarray:
    """The 8-bit display levels of an image (FITS orientation): limits (zscale when not given), linear clip,
    gamma 2.5, NaN black."""
    if zmin is None or zmax is None:
        auto_min, auto_max = zscale_limits(image)
        zmin = auto_min if zmin is None else zmin
        zmax = auto_max if zmax is None else zmax
    return _gamma8(scaled(image, zmin, zmax))


def _jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Full-resolution chroma (4:4:4): Pillow's default 4:2:0 put colour composites of noisy frames 9 levels off
    # their RGB levels on average, 4:4:4 three, at twice the bytes.
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def _small(picture: Image.Image) -> Image.Image:
    width, height = picture.size
    ratio = min(SMALL_SIZE / width, SMALL_SIZE / height, 1.0)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return picture if size == picture.size else picture.resize(size, Image.Resampling.LANCZOS)


def _previews(levels: np.ndarray) -> tuple[bytes, bytes]:
    picture = Image.fromarray(np.ascontiguousarray(levels[::-1]))
    return _jpeg(picture), _jpeg(_small(picture))


def render_previews(image: np.ndarray, zmin: float | None = None, zmax: float | None = None) -> tuple[bytes, bytes]:
    """The large (full resolution) and small (within 200x200, aspect kept, Lanczos) JPGs of a 2-D image: zscale
    limits over its finite pixels unless given, linear clip, gamma 2.5, NaN black, FITS row 0 at the bottom,
    quality 95."""
    return _previews(gray8(image, zmin, zmax))


def render_rgb_previews(rgb: np.ndarray) -> tuple[bytes, bytes]:
    """The large and small JPGs of an 8-bit RGB picture (ny, nx, 3) in FITS orientation (see `rgb8`)."""
    return _previews(rgb)


def tiff_rgb8(rgb: np.ndarray) -> bytes:
    """A lossless (deflate) 8-bit RGB TIFF of an (ny, nx, 3) uint8 picture in FITS orientation (see `rgb8`)."""
    buffer = io.BytesIO()
    picture = Image.fromarray(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[::-1]))
    picture.save(buffer, format="TIFF", compression="tiff_deflate")
    return buffer.getvalue()


def tiff_gray16(image: np.ndarray, zmin: float | None = None, zmax: float | None = None) -> bytes:
    """A lossless (deflate) 16-bit grayscale TIFF of a 2-D image clipped linearly between the limits (zscale unless
    given; no gamma: the levels stay proportional to the pixel values), NaN as 0, FITS row 0 at the bottom."""
    if zmin is None or zmax is None:
        auto_min, auto_max = zscale_limits(image)
        zmin = auto_min if zmin is None else zmin
        zmax = auto_max if zmax is None else zmax
    levels = np.rint(scaled(image, zmin, zmax) * np.float32(65535)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(levels[::-1])).save(buffer, format="TIFF", compression="tiff_deflate")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# Colour composites, computed as the colour wizard's preview does


@dataclass(frozen=True)
class Channel:
    """One colour channel: its image, display limits and colour (0-255 each)."""

    data: np.ndarray
    zmin: float
    zmax: float
    color: tuple[int, int, int]


def color_composite(channels: Sequence[Channel]) -> np.ndarray:
    """The linear RGB components (3, ny, nx, float32) of a composite: per channel s = clip((v - zmin) / (zmax - zmin),
    0, 1) with NaN as 0, per component the sum of s * colour / 255 (not clipped: values above 1 are kept)."""
    shape = channels[0].data.shape
    components = np.zeros((3, *shape), np.float32)
    for channel in channels:
        values = scaled(channel.data, channel.zmin, channel.zmax)
        for component, level in zip(components, channel.color, strict=True):
            if level:
                component += values * np.float32(level / 255)
    return components


def rgb8(components: np.ndarray) -> np.ndarray:
    """The 8-bit picture (ny, nx, 3, FITS orientation) of linear components (3, ny, nx): each clipped to 1 and shown
    with gamma 2.5."""
    clipped = np.clip(np.nan_to_num(np.asarray(components, dtype=np.float32), nan=0.0), 0, 1)
    return np.moveaxis(_gamma8(clipped), 0, -1)
