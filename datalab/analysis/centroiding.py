"""The `centroiding` action: refines a star's position from a click, with its local background and peak."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.stats import sigma_clip
from rest_framework import serializers

from datalab.analysis.fitsread import DisplayRequestSerializer, DisplayScale, edge_to_sky
from datalab.operations.imaging import read_science, usable_wcs

MAX_ITERATIONS = 100
CONVERGED_SHIFT = 0.01  # pixels, on both axes
CLIP_SIGMA = 2.0
CLIP_ITERATIONS = 9
PLANE_MIN_POINTS = 4
DONE = "Centroid calculation completed."


class RequestSerializer(DisplayRequestSerializer):
    x = serializers.FloatField(help_text="Horizontal position (display units, right from the left).")
    y = serializers.FloatField(help_text="Vertical position (display units, up from the bottom).")
    radius = serializers.FloatField(default=8, help_text="Radius of the star's aperture (display units).")
    r_back1 = serializers.FloatField(min_value=0, default=10, help_text="Inner radius of the background annulus.")
    r_back2 = serializers.FloatField(default=15, help_text="Outer radius of the background annulus.")
    find_centroid = serializers.BooleanField(default=True, help_text="Refine the position; else measure at it.")
    remove_background_stars = serializers.BooleanField(
        default=True, help_text="Reject annulus pixels beyond 2 sigma (other stars) before estimating the background."
    )
    use_plane_background = serializers.BooleanField(
        default=False, help_text="Fit a plane through the annulus instead of taking its mean."
    )

    def validate(self, attrs):
        if attrs["radius"] <= 0:
            raise serializers.ValidationError({"radius": "The radius must be positive."})
        if attrs["r_back2"] <= attrs["r_back1"]:
            raise serializers.ValidationError({"r_back2": "The annulus's outer radius must exceed its inner radius."})
        return attrs


class CentroidFailure(Exception):
    """The refinement gave up; the start position is answered with this message."""


@dataclass
class Cutout:
    """The finite pixels near the start: values and the edge coordinates of their centres."""

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray


@dataclass
class Background:
    """The background near a centre: a constant, or a plane a + b (x - cx) + c (y - cy)."""

    cx: float
    cy: float
    coefficients: tuple[float, float, float]

    @property
    def at_centre(self) -> float:
        return self.coefficients[0]

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a, b, c = self.coefficients
        return a + b * (x - self.cx) + c * (y - self.cy)


def run(path: Path, params: dict) -> dict:
    image, header, _name = read_science(path)
    naxis2, naxis1 = image.shape
    scale = DisplayScale(naxis1, naxis2, float(params["width"]), float(params["height"]))
    x0, y0 = scale.to_edge(float(params["x"]), float(params["y"]))
    radius = scale.radius_to_edge(float(params.get("radius", 8)))
    inner = scale.radius_to_edge(float(params.get("r_back1", 10)))
    outer = scale.radius_to_edge(float(params.get("r_back2", 15)))
    clip = bool(params.get("remove_background_stars", True))
    plane = bool(params.get("use_plane_background", False))

    # The centre may wander up to the radius from the start, and the annulus reaches beyond it.
    cutout = _cutout(image, x0, y0, radius + max(radius, outer) + 1)
    x, y, success, message = x0, y0, True, DONE
    if cutout is None:
        success, message = False, "No valid pixel near this position."
    elif params.get("find_centroid", True):
        try:
            x, y = _refine(cutout, x0, y0, radius, inner, outer, clip, plane)
        except CentroidFailure as failure:
            success, message = False, str(failure)

    background, peak = 0.0, None
    if cutout is not None:
        fitted = _background(cutout, x, y, inner, outer, clip, plane)
        background = fitted.at_centre
        inside = (cutout.x - x) ** 2 + (cutout.y - y) ** 2 <= radius**2
        if inside.any():
            peak = float(cutout.values[inside].max()) - background

    ra = dec = None
    wcs = usable_wcs(header)
    if wcs is not None:
        sky = edge_to_sky(wcs, x, y)
        ra, dec = float(sky[0][0]), float(sky[1][0])
    x_display, y_display = scale.to_display(x, y)
    return {
        "x": float(x_display),
        "y": float(y_display),
        "ra": ra,
        "dec": dec,
        "background": float(background),
        "peak": peak,
        "success": success,
        "message": message,
    }


def _cutout(image: np.ndarray, x: float, y: float, half: float) -> Cutout | None:
    height, width = image.shape
    left, right = max(0, math.floor(x - half)), min(width, math.ceil(x + half))
    bottom, top = max(0, math.floor(y - half)), min(height, math.ceil(y + half))
    if left >= right or bottom >= top:
        return None
    block = image[bottom:top, left:right]
    rows, columns = np.nonzero(np.isfinite(block))
    if rows.size == 0:
        return None
    # Cell [row j, column i] is centred at edge (i + 0.5, j + 0.5).
    return Cutout(columns + left + 0.5, rows + bottom + 0.5, block[rows, columns].astype(np.float64))


def _background(
    cutout: Cutout, cx: float, cy: float, inner: float, outer: float, clip: bool, plane: bool
) -> Background:
    distance2 = (cutout.x - cx) ** 2 + (cutout.y - cy) ** 2
    ring = (distance2 >= inner**2) & (distance2 <= outer**2)
    x, y, values = cutout.x[ring], cutout.y[ring], cutout.values[ring]
    if values.size == 0:
        return Background(cx, cy, (0.0, 0.0, 0.0))
    if clip:
        kept = ~np.ma.getmaskarray(sigma_clip(values, sigma=CLIP_SIGMA, maxiters=CLIP_ITERATIONS))
        x, y, values = x[kept], y[kept], values[kept]
    if plane and values.size >= PLANE_MIN_POINTS:
        design = np.column_stack([np.ones_like(x), x - cx, y - cy])
        coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
        return Background(cx, cy, (float(coefficients[0]), float(coefficients[1]), float(coefficients[2])))
    return Background(cx, cy, (float(values.mean()), 0.0, 0.0))


def _refine(
    cutout: Cutout, x0: float, y0: float, radius: float, inner: float, outer: float, clip: bool, plane: bool
) -> tuple[float, float]:
    """Iterate the intensity-weighted mean of the positive excesses over the background inside the radius."""
    x, y = x0, y0
    for _ in range(MAX_ITERATIONS):
        background = _background(cutout, x, y, inner, outer, clip, plane)
        inside = (cutout.x - x) ** 2 + (cutout.y - y) ** 2 <= radius**2
        px, py = cutout.x[inside], cutout.y[inside]
        weights = np.clip(cutout.values[inside] - background.at(px, py), 0, None)
        total = weights.sum()
        if not total > 0:
            raise CentroidFailure("No signal above the background inside the radius.")
        new_x, new_y = float((weights * px).sum() / total), float((weights * py).sum() / total)
        if abs(new_x - x0) > radius or abs(new_y - y0) > radius:
            raise CentroidFailure("The centroid moved beyond the radius from the start: no star found there.")
        shift_x, shift_y = abs(new_x - x), abs(new_y - y)
        x, y = new_x, new_y
        if shift_x < CONVERGED_SHIFT and shift_y < CONVERGED_SHIFT:
            break
    return x, y
