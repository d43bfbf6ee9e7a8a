"""FITS operations on stored files, in-process with astropy: streamed decompression (funpack) and catalog extraction."""

import io
import tempfile
from collections.abc import Iterable, Iterator

import numpy as np
from astropy.io import fits

# Compressed input is spooled to memory up to this size, then to a temporary file: astropy needs to seek in it.
SPOOL_BYTES = 32 * 1024 * 1024


class NoCatalog(Exception):
    """The file has no SCI and CAT extensions to make a catalog from."""


def _spool(chunks: Iterable[bytes]) -> tempfile.SpooledTemporaryFile:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by the callers
    for chunk in chunks:
        spool.write(chunk)
    spool.seek(0)
    return spool


def _hdu_bytes(hdu, first: bool) -> bytes:
    """The bytes one HDU takes in a FITS file: as the primary HDU when first, else as an extension."""
    buffer = io.BytesIO()
    if first:
        fits.HDUList([hdu]).writeto(buffer, output_verify="silentfix")
        return buffer.getvalue()
    # An extension is written after a minimal primary header (one 2880-byte block) that is then cut away.
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer, output_verify="silentfix")
    return buffer.getvalue()[2880:]


def _uncompressed(hdu, first: bool):
    if isinstance(hdu, fits.CompImageHDU):
        header = hdu.header.copy()
        for keyword in ("CHECKSUM", "DATASUM"):
            header.remove(keyword, ignore_missing=True)
        data = hdu.data
        if first:
            return fits.PrimaryHDU(data=data, header=header)
        return fits.ImageHDU(data=data, header=header, name=hdu.name)
    return hdu


def decompressed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The FITS file of `chunks` with its tile-compressed images decompressed, HDU by HDU (what `funpack` gives).

    Only one HDU's data is in memory at a time; uncompressed HDUs pass through unchanged.
    """
    with _spool(chunks) as spool, fits.open(spool, memmap=False, lazy_load_hdus=True) as hdus:
        for index, hdu in enumerate(hdus):
            yield _hdu_bytes(_uncompressed(hdu, index == 0), index == 0)
            hdu.data = None  # let the decompressed image go before the next one


def catalog(chunks: Iterable[bytes]) -> bytes:
    """A catalog file: a primary HDU carrying the SCI header (no data), then the CAT table."""
    with _spool(chunks) as spool, fits.open(spool, memmap=False) as hdus:
        names = {hdu.name.upper(): hdu for hdu in hdus}
        if "SCI" not in names or "CAT" not in names:
            raise NoCatalog()
        header = names["SCI"].header.copy()
        for keyword in (
            "XTENSION",
            "PCOUNT",
            "GCOUNT",
            "TFIELDS",
            "ZIMAGE",
            "ZBITPIX",
            "ZNAXIS",
            "ZNAXIS1",
            "ZNAXIS2",
            "ZTILE1",
            "ZTILE2",
            "ZCMPTYPE",
            "ZQUANTIZ",
            "ZDITHER0",
            "CHECKSUM",
            "DATASUM",
        ):
            header.remove(keyword, ignore_missing=True)
        primary = fits.PrimaryHDU(data=None, header=header)
        primary.header["NAXIS"] = 0
        table = fits.BinTableHDU(data=np.asarray(names["CAT"].data), header=names["CAT"].header, name="CAT")
        buffer = io.BytesIO()
        fits.HDUList([primary, table]).writeto(buffer, output_verify="silentfix")
        return buffer.getvalue()
