"""FITS files made by the tests: a compressed image with the headers an OCS pipeline writes and a known WCS."""

import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits

DEFAULT_HEADERS = {
    "PROPID": "LCOEPO2024A-002",
    "INSTRUME": "kb05",
    "SITEID": "coj",
    "TELID": "1m0a",
    "ENCID": "clma",
    "OBSTYPE": "EXPOSE",
    "BLKUID": 53195954,
    "REQNUM": 296263,
    "MOLUID": 11,
    "OBJECT": "M84",
    "FILTER": "V",
    "EXPTIME": 10.032415,
    "USERID": "jdoe",
    "RLEVEL": 91,
}


def make_fits(
    path: Path,
    *,
    ra: float = 186.265,
    dec: float = 12.887,
    date_obs: datetime.datetime | None = None,
    shape: tuple[int, int] = (64, 64),
    scale_deg: float = 0.001,
    compressed: bool = True,
    seed: int = 1,
    wcs: bool = True,
    extra: dict | None = None,
    omit: tuple[str, ...] = (),
    **headers,
) -> Path:
    """Write a FITS file whose WCS puts the image centre at (ra, dec) with `scale_deg` per pixel.

    `headers` and `extra` (for keywords that are no Python names, such as `DATE-OBS`) add or replace keywords;
    `omit` leaves keywords out; `wcs=False` writes no WCS keywords.
    """
    date_obs = date_obs or datetime.datetime(2024, 5, 1, 10, 0, 0, 261000)
    header = fits.Header()
    values = {
        **DEFAULT_HEADERS,
        "DATE-OBS": date_obs.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "DAY-OBS": (date_obs - datetime.timedelta(hours=12)).strftime("%Y%m%d"),
    }
    if wcs:
        values.update(
            {
                "CTYPE1": "RA---TAN",
                "CTYPE2": "DEC--TAN",
                "CRPIX1": (shape[1] + 1) / 2,
                "CRPIX2": (shape[0] + 1) / 2,
                "CRVAL1": ra,
                "CRVAL2": dec,
                "CD1_1": -scale_deg,
                "CD1_2": 0.0,
                "CD2_1": 0.0,
                "CD2_2": scale_deg,
            }
        )
    values.update(headers)
    values.update(extra or {})
    for key, value in values.items():
        if key not in omit:
            header[key] = value
    data = np.random.default_rng(seed).normal(1000, 10, size=shape).astype(np.float32)
    if compressed:
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data=data, header=header, name="SCI")])
    else:
        hdus = fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
    hdus.writeto(path, overwrite=True)
    return path
