"""Frames whose files really are in the file store (local or the moto S3 server), for download tests."""

import hashlib
import io
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from archive.filestore import get_filestore
from frames.tests.factories import FrameFactory, VersionFactory
from frames.tests.fitsfiles import make_fits


def store_version(frame, data: bytes, *, extension: str = ".fits.fz", size_known: bool = True):
    """Put `data` into the configured store and record it as the frame's newest version."""
    path = f"{frame.site_id}/{frame.instrument_id}/20240501/processed/{frame.basename}{extension}"
    md5 = hashlib.md5(data).hexdigest()
    key = get_filestore().put(path, io.BytesIO(data), md5=md5, size=len(data))
    return VersionFactory(
        frame=frame, key=key, md5=md5, extension=extension, store_path=path, size=len(data) if size_known else None
    )


def fits_bytes(path: Path, *, with_catalog: bool = False, compressed: bool = True, seed: int = 1) -> bytes:
    """A test FITS file written at `path` (tile-compressed by default, with a CAT table if asked), as bytes."""
    make_fits(path, compressed=compressed, seed=seed)
    if with_catalog:
        hdus = fits.open(path)
        table = fits.BinTableHDU(Table({"ra": np.arange(3.0), "dec": np.arange(3.0) + 10}), name="CAT")
        fits.HDUList([*hdus, table]).writeto(path, overwrite=True)
    return path.read_bytes()


def frame_with_file(
    tmp_path: Path, *, with_catalog: bool = False, compressed: bool = True, seed: int = 1, **frame_fields
):
    """A frame and its stored FITS file (tile-compressed by default); returns (frame, bytes)."""
    frame = FrameFactory(version=False, **frame_fields)
    extension = ".fits.fz" if compressed else ".fits"
    data = fits_bytes(
        tmp_path / f"{frame.basename}{extension}", with_catalog=with_catalog, compressed=compressed, seed=seed
    )
    store_version(frame, data, extension=extension)
    return frame, data
