"""Median: the per-pixel median of frames aligned onto the first one's grid, with a coverage map."""

import logging

from datalab.operations.base import Operation, OperationError, alignment_input, fits_input
from datalab.operations.imaging import align_inputs, median_combine
from datalab.operations.products import Provenance, publish_image_product

logger = logging.getLogger(__name__)


class Median(Operation):
    name = "Median"
    version = 1
    description = (
        "The median of each pixel over the input frames, which removes cosmic rays, satellite trails and other "
        "outliers. The frames are aligned on the first one's WCS (alignment wcs) or combined pixel by pixel "
        "(alignment none); each pixel's median is over the frames that cover it, as the COVERAGE extension counts."
    )
    menu_order = 10
    inputs = (
        fits_input("input_files", "Input Files", "The frames to combine (2 to 100).", minimum=2, maximum=100),
        alignment_input(),
    )

    def run(self, ctx) -> None:
        files, stack = align_inputs(ctx, until=0.6)
        ctx.progress(0.6, "Combining the frames")
        try:
            median, coverage = median_combine(stack.frames)
        except ValueError as exc:
            raise OperationError(str(exc)) from exc
        ctx.progress(0.9, "Writing the median")
        publish_image_product(
            ctx,
            data=median,
            provenance=Provenance.of(ctx, [input_file.label for input_file in files]),
            header=stack.header,
            wcs=stack.grid.wcs,
            coverage=coverage,
        )
        ctx.progress(1.0, "Done")
