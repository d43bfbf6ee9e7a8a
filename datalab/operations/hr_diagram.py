"""HR Diagram: a cluster's colour-magnitude diagram from frames in a blue and a red filter, its stars identified in
the local reference catalogue (Gaia DR3) for their parallaxes, absolute magnitudes and Gaia colours."""

import math
from collections.abc import Mapping
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from datalab.catalog import catalog_provider
from datalab.operations.base import InputError, InputSpec, Operation, OperationError, fits_input
from datalab.operations.light_curve import catalog_positions, json_float, read_frame

MATCH_RADIUS_ARCSEC = 1.5
# Absolute magnitudes only from parallaxes measured to this signal-to-noise.
MIN_PARALLAX_OVER_ERROR = 5.0
NO_CATALOG = (
    "The HR Diagram needs the local reference catalogue, which is not loaded here: an administrator loads a Gaia DR3 "
    "extract with `python manage.py load_catalog`."
)


def _band_input(key: str, name: str, colour: str) -> InputSpec:
    return fits_input(
        key,
        name,
        f"Frames of the cluster in the {colour} filter (one filter), each with its source catalogue.",
        minimum=1,
        maximum=100,
        single_filter=True,
    )


def _filter_of(item: Any) -> str | None:
    return item.get("filter") if isinstance(item, Mapping) else getattr(item, "filter", None)


def band_magnitudes(files: list, stars: SkyCoord) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per catalogue star, the inverse-variance mean of the frames' calibrated magnitudes of the source matched
    within MATCH_RADIUS_ARCSEC (NaN where none), its error, and notes on frames that gave nothing."""
    weighted = np.zeros(len(stars))
    weights = np.zeros(len(stars))
    notes = []
    for file in files:
        header, catalog = read_frame(file.path)
        if catalog is None or not catalog.calibrated:
            notes.append(f"{file.basename}: no source catalogue with calibrated magnitudes.")
            continue
        positions = catalog_positions(catalog, header)
        assert catalog.mag is not None and catalog.magerr is not None
        usable = np.isfinite(catalog.mag) & np.isfinite(catalog.magerr) & (catalog.magerr > 0)
        if positions is None or not usable.any() or len(stars) == 0:
            notes.append(f"{file.basename}: no catalogued source with a calibrated magnitude to match.")
            continue
        sources = positions[usable]
        nearest, separation, _ = stars.match_to_catalog_sky(sources)
        matched = separation.to_value(u.arcsec) <= MATCH_RADIUS_ARCSEC
        mags, errors = catalog.mag[usable][nearest], catalog.magerr[usable][nearest]
        weight = np.where(matched, 1 / np.where(matched, errors, 1.0) ** 2, 0.0)
        weighted += np.where(matched, mags, 0.0) * weight
        weights += weight
    with np.errstate(divide="ignore", invalid="ignore"):
        return weighted / weights, np.sqrt(1 / weights), notes


class HRDiagram(Operation):
    name = "HR Diagram"
    version = 1
    description = (
        "A colour-magnitude diagram of a cluster: its stars measured in a blue and a red filter and identified in the "
        "Gaia DR3 catalogue within the search radius, with Gaia colours, parallaxes and absolute G magnitudes."
    )
    menu_order = 90
    inputs = (
        _band_input("blue_filter_files", "Blue Filter Files", "bluer"),
        _band_input("red_filter_files", "Red Filter Files", "redder"),
        InputSpec(
            "cluster",
            "Cluster",
            "The cluster's centre: a name and its RA and Dec in decimal degrees.",
            "source",
            extra={"name_lookup": True},
        ),
        InputSpec(
            "search_radius_arcmin",
            "Search Radius",
            "Radius around the cluster's centre in which stars are taken (arcmin).",
            "float",
            minimum=0.1,
            maximum=60.0,
            default=10.0,
        ),
    )
    archive_only_inputs = ("blue_filter_files", "red_filter_files")

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None if catalog_provider().available() else NO_CATALOG

    @classmethod
    def validate(cls, params: dict, files: Mapping[str, list]) -> None:
        bands = {}
        for key in ("blue_filter_files", "red_filter_files"):
            found = sorted({_filter_of(item) or "none" for item in files.get(key, [])})
            if len(found) > 1:
                raise InputError(f"{cls.name} needs one filter for '{key}', but got {', '.join(found)}.", key)
            bands[key] = found[0] if found else None
        if bands["blue_filter_files"] is not None and bands["blue_filter_files"] == bands["red_filter_files"]:
            raise InputError(
                f"{cls.name} needs two different filters, but the blue and red files are both "
                f"{bands['blue_filter_files']}.",
                "red_filter_files",
            )

    def run(self, ctx) -> None:
        cluster = ctx.params["cluster"]
        ra, dec = float(cluster["ra"]), float(cluster["dec"])
        radius_arcmin = float(ctx.params["search_radius_arcmin"])
        ctx.progress(0.05, "Searching the reference catalogue")
        rows = catalog_provider().cone(ra, dec, radius_arcmin / 60)
        if not rows:
            raise OperationError(
                f"The reference catalogue has no star within {radius_arcmin:g} arcmin of the cluster "
                f"(RA {ra:.5f}, Dec {dec:.5f}): check the coordinates or widen the search radius."
            )
        stars = SkyCoord([row["ra"] for row in rows] * u.deg, [row["dec"] for row in rows] * u.deg)
        ctx.progress(0.2, "Measuring the blue frames")
        blue, blue_error, blue_notes = band_magnitudes(ctx.files("blue_filter_files"), stars)
        ctx.progress(0.55, "Measuring the red frames")
        red, red_error, red_notes = band_magnitudes(ctx.files("red_filter_files"), stars)
        ctx.progress(0.9, "Building the diagram")
        both = np.isfinite(blue) & np.isfinite(red)
        if not both.any():
            raise OperationError(
                f"No catalogue star within {radius_arcmin:g} arcmin of the cluster was measured in both filters: "
                "choose frames that cover the cluster in each, or a wider search radius."
            )
        diagram = []
        for index in np.flatnonzero(both):
            row = rows[index]
            parallax, parallax_error, g = row["parallax"], row["parallax_error"], row["phot_g_mean_mag"]
            good_parallax = (
                parallax is not None
                and parallax_error is not None
                and parallax > 0
                and parallax_error > 0
                and parallax / parallax_error >= MIN_PARALLAX_OVER_ERROR
            )
            absolute_g = g + 5 * math.log10(parallax) - 10 if good_parallax and g is not None else None
            diagram.append(
                {
                    "source_id": row["source_id"],
                    "ra": row["ra"],
                    "dec": row["dec"],
                    "blue_mag": json_float(float(blue[index])),
                    "blue_mag_error": json_float(float(blue_error[index])),
                    "red_mag": json_float(float(red[index])),
                    "red_mag_error": json_float(float(red_error[index])),
                    "color": json_float(float(blue[index] - red[index])),
                    "gaia_g": g,
                    "gaia_bp_rp": row["bp_rp"],
                    "parallax": parallax,
                    "parallax_error": parallax_error,
                    "absolute_g": absolute_g,
                }
            )
        parallaxes = [star["parallax"] for star in diagram if star["absolute_g"] is not None]
        median_parallax = float(np.median(parallaxes)) if parallaxes else None
        bands = {
            key: sorted({f.filter for f in ctx.files(key) if f.filter})
            for key in ("blue_filter_files", "red_filter_files")
        }
        ctx.set_data(
            {
                "cluster": dict(cluster),
                "search_radius_arcmin": radius_arcmin,
                "blue_filter": (bands["blue_filter_files"] or [None])[0],
                "red_filter": (bands["red_filter_files"] or [None])[0],
                "catalog_stars": len(rows),
                "stars": diagram,
                "median_parallax": median_parallax,
                "distance_pc": 1000 / median_parallax if median_parallax else None,
                "pipeline_diagnostics": blue_notes + red_notes,
            }
        )
        ctx.progress(1.0, "HR diagram complete")
