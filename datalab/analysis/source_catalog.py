"""The `source-catalog` action: the brightest sources of the file's `CAT` table, placed on the displayed picture."""

from pathlib import Path

import numpy as np

from datalab.analysis.fitsread import (
    DisplayRequestSerializer,
    DisplayScale,
    edge_to_sky,
    image_shape,
    read_catalog,
)
from datalab.operations.base import OperationError
from datalab.operations.imaging import usable_wcs

MAX_SOURCES = 1000
# 2.5 / ln(10): a flux's relative error as a magnitude error.
MAGERR_PER_RELATIVE_FLUX = 1.0857


class RequestSerializer(DisplayRequestSerializer):
    pass


def run(path: Path, params: dict) -> list[dict]:
    header, rows = read_catalog(path)
    if rows is None:
        raise OperationError("This image has no source catalogue")
    naxis1, naxis2 = image_shape(header)
    scale = DisplayScale(naxis1, naxis2, float(params["width"]), float(params["height"]))
    if len(rows) == 0:
        return []
    columns = {name.lower(): name for name in rows.columns.names}

    def column(name: str, fallback: str | None = None) -> np.ndarray | None:
        key = name if name in columns else fallback
        if key not in columns:
            return None
        return np.asarray(rows[columns[key]], dtype=np.float64)

    count = len(rows)
    missing = np.full(count, np.nan)
    flux = column("flux")
    flux = missing if flux is None else flux
    # Brightest first; rows without a finite flux last, in their catalogue order.
    order = np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")[:MAX_SOURCES]

    x, y = column("x"), column("y")
    if x is None or y is None:
        raise OperationError("This image's source catalogue has no x and y columns")
    xwin, ywin = column("xwin", "x"), column("ywin", "y")
    # SExtractor positions are 1-based pixel centres: p - 0.5 in edge units.
    x_display, y_display = scale.to_display(x - 0.5, y - 0.5)
    xwin_display, ywin_display = scale.to_display(xwin - 0.5, ywin - 0.5)

    mag, magerr = column("mag"), column("magerr")
    fallback = mag is None or magerr is None
    if fallback:
        fluxerr = column("fluxerr")
        fluxerr = missing if fluxerr is None else fluxerr
        positive = flux > 0
        safe_flux = np.where(positive, flux, 1.0)  # no log or division of a non-positive flux
        mag = np.where(positive, -2.5 * np.log10(safe_flux), np.nan)
        magerr = np.where(positive, MAGERR_PER_RELATIVE_FLUX * fluxerr / safe_flux, np.nan)

    ra, dec = column("ra"), column("dec")
    if ra is None or dec is None:
        ra, dec = missing, missing
        wcs = usable_wcs(header)
        if wcs is not None:
            ra, dec = edge_to_sky(wcs, x[order] - 0.5, y[order] - 0.5)
            ra, dec = _placed(ra, order, count), _placed(dec, order, count)

    return [
        {
            "x": _number(x_display[i]),
            "y": _number(y_display[i]),
            "x_win": _number(xwin_display[i]),
            "y_win": _number(ywin_display[i]),
            "flux": round(float(flux[i])) if np.isfinite(flux[i]) else None,
            "mag": _number(mag[i]),
            "magerr": _number(magerr[i]),
            "flux_fallback": fallback,
            "ra": _number(ra[i]),
            "dec": _number(dec[i]),
        }
        for i in order
    ]


def _placed(values: np.ndarray, order: np.ndarray, count: int) -> np.ndarray:
    """Values computed for the chosen rows, put back at those rows' indices."""
    full = np.full(count, np.nan)
    full[order] = values
    return full


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
