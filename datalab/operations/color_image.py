"""Color Image: a colour composite of up to six channels, each with its colour and display limits."""

import logging
import numbers
from pathlib import Path

import numpy as np

from datalab.operations.base import InputError, Operation, OperationError, fits_input
from datalab.operations.imaging import align_onto, load_science
from datalab.operations.products import (
    Channel,
    Provenance,
    color_composite,
    render_rgb_previews,
    rgb8,
    tiff_rgb8,
    write_fits_product,
    zscale_limits,
)

logger = logging.getLogger(__name__)

CHANNELS = "color_channels"


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(float(value))


def channel_problem(item) -> str | None:
    """What is wrong with a channel item's colour or limits, or None."""
    if not isinstance(item, dict):
        return "each channel must be an object"
    basename = item.get("basename")
    color = item.get("color")
    if not isinstance(color, dict):
        return f"channel {basename} has no color (r, g and b from 0 to 255)"
    for component in ("r", "g", "b"):
        level = color.get(component)
        if not (_is_number(level) and float(level).is_integer() and 0 <= level <= 255):
            return f"channel {basename} has color {component} = {level!r}, not an integer from 0 to 255"
    for limit in ("zmin", "zmax"):
        value = item.get(limit)
        if value is not None and not _is_number(value):
            return f"channel {basename} has {limit} = {value!r}, not a number"
    if item.get("zmin") is not None and item.get("zmax") is not None and not item["zmax"] > item["zmin"]:
        return f"channel {basename} has zmax {item['zmax']} not above zmin {item['zmin']}"
    return None


class ColorImage(Operation):
    name = "Color Image"
    version = 1
    description = (
        "A colour picture from one to six frames, each shown in the colour you pick between the limits you set "
        "(by default its zscale limits). The frames are aligned on the WCS of the first one; if one has no usable "
        "WCS, they are combined pixel by pixel and must have the same shape. Gives a JPG, a lossless TIFF and a FITS "
        "cube of the red, green and blue components."
    )
    menu_order = 50
    inputs = (
        fits_input(
            CHANNELS,
            "Color Channels",
            "The frames to combine (1 to 6), each with its colour and, optionally, its display limits.",
            minimum=1,
            maximum=6,
            include_custom_scale=True,
            color_picker=True,
        ),
    )

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        channels = params.get(CHANNELS)
        if isinstance(channels, list):
            # Slots the wizard left empty come without an image: they are no channel.
            kept = [item for item in channels if not isinstance(item, dict) or item.get("basename")]
            params = {**params, CHANNELS: kept}
        return params

    @classmethod
    def validate(cls, params: dict, files) -> None:
        for item in params.get(CHANNELS) or []:
            problem = channel_problem(item)
            if problem:
                raise InputError(f"In {CHANNELS}, {problem}.", field=CHANNELS)

    def run(self, ctx) -> None:
        files = sorted(
            (input_file for input_file in ctx.files(CHANNELS) if input_file.basename),
            key=lambda input_file: input_file.basename,
        )
        if not files:
            raise OperationError("Color Image needs at least one channel with an image.")
        count = len(files)
        channels, labels = [], []
        for number, input_file in enumerate(files, start=1):
            ctx.progress(0.4 * (number - 1) / count, f"Loading channel {number} of {count}")
            problem = channel_problem(input_file.item)
            if problem:
                raise OperationError(f"Cannot make the colour image: {problem}.")
            science = load_science(input_file)
            zmin, zmax = self._limits(input_file, science.data)
            # Kept on disk until the composite: memory holds one channel at a time, whatever their number.
            spilled = np.lib.format.open_memmap(
                Path(ctx.scratch) / f"channel-{number}.npy", mode="w+", dtype=np.float32, shape=science.shape
            )
            spilled[...] = science.data
            science.data = spilled
            color = tuple(int(input_file.item["color"][component]) for component in ("r", "g", "b"))
            channels.append((science, zmin, zmax, color))
            labels.append(f"{input_file.label} colour {color} limits {zmin:.7g} to {zmax:.7g}")

        ctx.progress(0.4, "Aligning the channels")
        grid_science = channels[0][0]
        without_wcs = [science.basename for science, *_ in channels if science.wcs is None]
        alignment = "none" if without_wcs else "wcs"
        if without_wcs:
            shapes = {science.shape for science, *_ in channels}
            if len(shapes) > 1:
                described = ", ".join(f"{science.basename} {science.shape}" for science, *_ in channels)
                raise OperationError(
                    f"{', '.join(without_wcs)} {'has' if len(without_wcs) == 1 else 'have'} no usable WCS, so the "
                    f"channels can only be combined pixel by pixel, which needs one shape; their shapes: {described}."
                )
            ctx.message = (
                f"Not aligned: {', '.join(without_wcs)} {'has' if len(without_wcs) == 1 else 'have'} no usable WCS, "
                "so the channels were combined pixel by pixel."
            )
        aligned = []
        for number, (science, zmin, zmax, color) in enumerate(channels, start=1):
            ctx.progress(0.4 + 0.2 * (number - 1) / count, f"Aligning channel {number} of {count}")
            target = np.lib.format.open_memmap(
                Path(ctx.scratch) / f"aligned-channel-{number}.npy",
                mode="w+",
                dtype=np.float32,
                shape=grid_science.shape,
            )
            align_onto(science, grid_science.grid, alignment=alignment, grid_name=grid_science.basename, out=target)
            aligned.append(Channel(target, zmin, zmax, color))

        ctx.progress(0.6, "Rendering the colour image")
        components = color_composite(aligned)
        picture = rgb8(components)
        large, small = render_rgb_previews(picture)
        tif = tiff_rgb8(picture)
        path = write_fits_product(
            Path(ctx.scratch) / f"{ctx.key}.fits",
            data=components,
            provenance=Provenance.of(ctx, labels),
            header=grid_science.header,
            wcs=grid_science.wcs,
        )
        ctx.progress(0.9, "Uploading the colour image")
        ctx.add_file_product(fits_path=path, large_jpg=large, small_jpg=small, tif=tif, kind="image")
        ctx.progress(1.0, "Done")

    @staticmethod
    def _limits(input_file, data: np.ndarray) -> tuple[float, float]:
        """The channel's limits as the wizard set them, its zscale limits where it set none."""
        zmin, zmax = input_file.item.get("zmin"), input_file.item.get("zmax")
        if zmin is None or zmax is None:
            auto_min, auto_max = zscale_limits(data)
            zmin = auto_min if zmin is None else zmin
            zmax = auto_max if zmax is None else zmax
        zmin, zmax = float(zmin), float(zmax)
        if not zmax > zmin:
            raise OperationError(
                f"Cannot make the colour image: channel {input_file.basename} has zmax {zmax:g} not above zmin "
                f"{zmin:g}."
            )
        return zmin, zmax
