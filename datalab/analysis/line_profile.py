"""The `line-profile` action: pixel values sampled along a line the user drew, with its length on the sky and
direction."""

import math
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from rest_framework import serializers

from datalab.analysis.fitsread import DisplayRequestSerializer, DisplayScale, edge_to_sky
from datalab.operations.imaging import read_science, usable_wcs


class RequestSerializer(DisplayRequestSerializer):
    # The front-end sends Leaflet's latitude as x and longitude as y: x is vertical, y horizontal.
    x1 = serializers.FloatField(help_text="Start, vertical (display units, up from the bottom).")
    y1 = serializers.FloatField(help_text="Start, horizontal (display units, right from the left).")
    x2 = serializers.FloatField(help_text="End, vertical.")
    y2 = serializers.FloatField(help_text="End, horizontal.")


def run(path: Path, params: dict) -> dict:
    image, header, _name = read_science(path)
    naxis2, naxis1 = image.shape
    scale = DisplayScale(naxis1, naxis2, float(params["width"]), float(params["height"]))
    col1, row1 = scale.to_edge(float(params["y1"]), float(params["x1"]))
    col2, row2 = scale.to_edge(float(params["y2"]), float(params["x2"]))
    length = math.hypot(col2 - col1, row2 - row1)
    steps = np.linspace(0.0, 1.0, math.ceil(length) + 1)
    profile = bilinear(image, row1 + (row2 - row1) * steps, col1 + (col2 - col1) * steps)

    arcsec = start_coords = end_coords = position_angle = None
    wcs = usable_wcs(header)
    if wcs is not None:
        ra, dec = edge_to_sky(wcs, [col1, col2], [row1, row2])
        start = SkyCoord(ra[0], dec[0], unit="deg")
        end = SkyCoord(ra[1], dec[1], unit="deg")
        arcsec = float(start.separation(end).arcsec)
        position_angle = float(start.position_angle(end).deg)
        start_coords, end_coords = [float(ra[0]), float(dec[0])], [float(ra[1]), float(dec[1])]
    elif _finite_number(header.get("PIXSCALE")):
        arcsec = length * float(header["PIXSCALE"])
    return {
        "line_profile": [None if not math.isfinite(value) else value for value in profile.tolist()],
        "arcsec": arcsec,
        "start_coords": start_coords,
        "end_coords": end_coords,
        "position_angle": position_angle,
    }


def bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Values at edge coordinates, interpolated between pixel centres (the nearest centre's value within half a
    pixel of the border); NaN outside the image."""
    height, width = image.shape
    inside = (rows >= 0) & (rows <= height) & (cols >= 0) & (cols <= width)
    r = np.clip(rows - 0.5, 0, height - 1)
    c = np.clip(cols - 0.5, 0, width - 1)
    r0 = np.minimum(np.floor(r).astype(np.intp), max(height - 2, 0))
    c0 = np.minimum(np.floor(c).astype(np.intp), max(width - 2, 0))
    r1 = np.minimum(r0 + 1, height - 1)
    c1 = np.minimum(c0 + 1, width - 1)
    fr, fc = r - r0, c - c0
    values = np.zeros(rows.shape)
    corners = ((r0, c0, (1 - fr) * (1 - fc)), (r0, c1, (1 - fr) * fc), (r1, c0, fr * (1 - fc)), (r1, c1, fr * fc))
    for rr, cc, weight in corners:
        # A pixel with no weight must not bring its NaN in.
        values += np.where(weight > 0, weight * image[rr, cc], 0.0)
    values[~inside] = np.nan
    return values


def _finite_number(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
