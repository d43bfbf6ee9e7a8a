"""Stacking: the sum or mean of frames aligned onto the first one's grid, with a coverage map."""

import logging
import numbers

from datalab.operations.base import InputSpec, Operation, OperationError, alignment_input, fits_input
from datalab.operations.imaging import align_inputs, mean_combine
from datalab.operations.products import Provenance, publish_image_product

logger = logging.getLogger(__name__)

# Scripts written for the earlier datalab backend name the alignment `stacking_mode`.
LEGACY_STACKING_MODES = {"reproject": "wcs", "simple": "none"}


class Stacking(Operation):
    name = "Stacking"
    version = 1
    description = (
        "Adds up the input frames to reach fainter objects. The frames are aligned on the first one's WCS "
        "(alignment wcs) or combined pixel by pixel (alignment none). combine sum: the sum of the frames, scaled "
        "up where only some of them cover a pixel, with EXPTIME the total exposure; combine mean: their mean. The "
        "COVERAGE extension counts the frames covering each pixel."
    )
    menu_order = 40
    inputs = (
        fits_input("input_files", "Input Files", "The frames to stack (2 to 100).", minimum=2, maximum=100),
        alignment_input(),
        InputSpec(
            "combine",
            "Combine",
            "sum: the total of the frames (EXPTIME the total exposure); mean: their average.",
            "select",
            default="sum",
            options=("sum", "mean"),
        ),
    )

    @classmethod
    def normalise_params(cls, params: dict) -> dict:
        if "stacking_mode" not in params:
            return params
        params = dict(params)
        mode = params.pop("stacking_mode")
        if "alignment" not in params:
            # An unknown mode is passed on as the alignment, which validation then refuses by name.
            params["alignment"] = LEGACY_STACKING_MODES.get(mode, mode)
        return params

    def run(self, ctx) -> None:
        combine = ctx.params.get("combine", "sum")
        if combine not in ("sum", "mean"):
            raise OperationError(f"Unknown combine {combine!r}: choose sum or mean.")
        files, stack = align_inputs(ctx, until=0.6)
        ctx.progress(0.6, "Stacking the frames")
        try:
            stacked, coverage = mean_combine(stack.frames, as_sum=combine == "sum")
        except ValueError as exc:
            raise OperationError(str(exc)) from exc
        updates = {}
        if combine == "sum":
            exposures = [header.get("EXPTIME") for header in stack.headers]
            if all(isinstance(value, numbers.Real) and not isinstance(value, bool) for value in exposures):
                updates["EXPTIME"] = (float(sum(exposures)), "[s] total exposure time of the stacked frames")
            else:
                logger.info("Stacking %s: not every input has an EXPTIME; the grid's is kept", ctx.key)
        ctx.progress(0.9, "Writing the stack")
        publish_image_product(
            ctx,
            data=stacked,
            provenance=Provenance.of(ctx, [input_file.label for input_file in files]),
            header=stack.header,
            wcs=stack.grid.wcs,
            coverage=coverage,
            updates=updates,
        )
        ctx.progress(1.0, "Done")
