"""Subtraction: one frame subtracted from each input, aligned onto that input's own grid."""

import logging

from datalab.operations.base import Operation, OperationError, alignment_input, fits_input
from datalab.operations.imaging import align_onto, load_science, no_wcs_error
from datalab.operations.products import Provenance, publish_image_product

logger = logging.getLogger(__name__)


class Subtraction(Operation):
    name = "Subtraction"
    version = 1
    description = (
        "Subtracts one frame (a reference, a sky or a dark frame) from each input frame. The frame to subtract is "
        "aligned on each input's WCS (alignment wcs) or used pixel by pixel (alignment none); each output keeps its "
        "input's geometry and header. One output per input frame."
    )
    menu_order = 30
    multiple_outputs = True
    inputs = (
        fits_input("input_files", "Input Files", "The frames to subtract from (1 to 200).", minimum=1, maximum=200),
        fits_input("subtraction_file", "Subtraction File", "The frame to subtract.", minimum=1, maximum=1),
        alignment_input(),
    )

    def run(self, ctx) -> None:
        files = sorted(ctx.files("input_files"), key=lambda input_file: input_file.basename)
        subtrahends = ctx.files("subtraction_file")
        if len(subtrahends) != 1:
            raise OperationError(f"Subtraction needs exactly one frame to subtract, not {len(subtrahends)}.")
        alignment = ctx.params.get("alignment", "wcs")
        ctx.progress(0.0, "Reading the frame to subtract")
        subtrahend = load_science(subtrahends[0])
        if alignment == "wcs" and subtrahend.wcs is None:
            raise no_wcs_error(subtrahend.basename)
        ctx.progress(0.1, "Read the frame to subtract")
        count = len(files)
        for number, input_file in enumerate(files, start=1):
            ctx.progress(0.1 + 0.85 * (number - 1) / count, f"Subtracting from frame {number} of {count}")
            science = load_science(input_file)
            aligned = align_onto(subtrahend, science.grid, alignment=alignment, grid_name=science.basename)
            publish_image_product(
                ctx,
                data=science.data - aligned,
                provenance=Provenance.of(ctx, [input_file.label, subtrahends[0].label]),
                header=science.header,
                wcs=science.wcs,
                index=number,
            )
            ctx.progress(0.1 + 0.85 * number / count, f"Subtracted from frame {number} of {count}")
        ctx.progress(1.0, "Done")
