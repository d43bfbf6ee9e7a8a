"""Reading for the analysis actions beside the pipeline's `read_science`: the science header alone, the source
catalogue, sky positions, the display/edge pixel conversions, and the request fields every action shares."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from rest_framework import serializers

from datalab.operations.base import OperationError
from datalab.operations.imaging import read_science, science_hdu
from datalab.operations.products import zscale_limits

SOURCES = ("archive", "datalab")


class ImageRequestSerializer(serializers.Serializer):
    """The file an action reads; the view resolves it (and answers 404 when the user may not see it)."""

    basename = serializers.CharField(max_length=1000, help_text="The frame's or product's basename.")
    source = serializers.ChoiceField(
        choices=SOURCES,
        default="archive",
        help_text="`archive` for a frame of the archive, `datalab` for a product of an operation.",
        error_messages={"invalid_choice": "Source {input} not recognized"},
    )


class DisplayRequestSerializer(ImageRequestSerializer):
    """An action whose positions are in units of the picture the front-end displays, of this size."""

    width = serializers.FloatField(min_value=1, help_text="Width of the displayed picture.")
    height = serializers.FloatField(min_value=1, help_text="Height of the displayed picture.")


def _science_hdu(hdul: fits.HDUList):
    hdu = science_hdu(hdul)
    if hdu is None:
        raise OperationError("This file has no 2-D science image")
    return hdu


@contextmanager
def _opened(path: Path) -> Iterator[fits.HDUList]:
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            yield hdul
    except (OSError, ValueError) as error:  # HDUs are read lazily: a corrupt one fails while they are walked
        raise OperationError("This file cannot be read as FITS") from error


def read_science_header(path: Path) -> fits.Header:
    """The science image's header, without reading its pixels (for a tile-compressed image, the image header
    astropy derives from the table's, so NAXISn and BITPIX are the image's)."""
    with _opened(path) as hdul:
        return _science_hdu(hdul).header.copy()


def read_catalog(path: Path) -> tuple[fits.Header, fits.FITS_rec | None]:
    """The science header and the rows of the `CAT` table (None when the file has none)."""
    with _opened(path) as hdul:
        header = _science_hdu(hdul).header.copy()
        cat = next((hdu for hdu in hdul if hdu.name == "CAT" and isinstance(hdu, fits.BinTableHDU)), None)
        if cat is None:
            return header, None
        rows = cat.data
        return header, (rows.copy() if rows is not None else rows)


def image_shape(header: fits.Header) -> tuple[int, int]:
    """(NAXIS1, NAXIS2): the image's width and height in pixels."""
    return int(header["NAXIS1"]), int(header["NAXIS2"])


def bitdepth(header: fits.Header) -> int:
    """|BITPIX| of the stored image; astropy puts a compressed image's ZBITPIX in its header's BITPIX."""
    return abs(int(header.get("ZBITPIX", header["BITPIX"])))


def edge_to_sky(wcs: WCS, x_edge, y_edge) -> tuple[np.ndarray, np.ndarray]:
    """RA and Dec in degrees (in the header's celestial system) at edge coordinates; astropy's 0-based pixel
    position is edge - 0.5."""
    x = np.atleast_1d(np.asarray(x_edge, dtype=np.float64)) - 0.5
    y = np.atleast_1d(np.asarray(y_edge, dtype=np.float64)) - 0.5
    world = wcs.all_pix2world(np.column_stack([x, y]), 0)
    return world[:, wcs.wcs.lng], world[:, wcs.wcs.lat]


@dataclass(frozen=True)
class DisplayScale:
    """Conversion between display units (the picture the front-end shows, origin lower-left) and edge units (FITS
    pixels, origin at the outer lower-left corner of the first pixel)."""

    naxis1: int
    naxis2: int
    width: float
    height: float

    @property
    def sx(self) -> float:
        return self.naxis1 / self.width

    @property
    def sy(self) -> float:
        return self.naxis2 / self.height

    def to_edge(self, x, y):
        return x * self.sx, y * self.sy

    def to_display(self, x_edge, y_edge):
        return x_edge / self.sx, y_edge / self.sy

    def radius_to_edge(self, radius: float) -> float:
        # A radius is drawn on a picture that may be stretched differently on each axis: take the mean.
        return radius * (self.sx + self.sy) / 2


def tif_image(path: Path) -> tuple[np.ndarray, float, float]:
    """The science image (float32, FITS orientation: row 0 is the bottom, so the writer flips it like every picture)
    and its zscale limits, for the 16-bit TIFF."""
    data, _header, _name = read_science(path)
    zmin, zmax = zscale_limits(data)
    return data, zmin, zmax
