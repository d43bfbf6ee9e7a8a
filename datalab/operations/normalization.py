"""Normalization: each frame divided by its median, one product per frame."""

import logging

import numpy as np

from datalab.operations.base import Operation, OperationError, fits_input
from datalab.operations.imaging import load_science
from datalab.operations.products import Provenance, publish_image_product

logger = logging.getLogger(__name__)


class Normalization(Operation):
    name = "Normalization"
    version = 1
    description = (
        "Divides each input frame by its median pixel value, so that frames taken with different exposures or sky "
        "levels can be compared (for example before a median or a subtraction). One output per frame."
    )
    menu_order = 20
    multiple_outputs = True
    inputs = (fits_input("input_files", "Input Files", "The frames to normalise (1 to 200).", minimum=1, maximum=200),)

    def run(self, ctx) -> None:
        files = sorted(ctx.files("input_files"), key=lambda input_file: input_file.basename)
        count = len(files)
        for number, input_file in enumerate(files, start=1):
            ctx.progress(0.95 * (number - 1) / count, f"Normalising frame {number} of {count}")
            science = load_science(input_file)
            # The median of the finite pixels: bad pixels (NaN) and infinities say nothing of the level.
            finite = science.data[np.isfinite(science.data)]
            median = float(np.median(finite)) if finite.size else float("nan")
            if median == 0 or not np.isfinite(median):
                raise OperationError(f"Cannot normalise {input_file.basename}: its median is {median:g}.")
            publish_image_product(
                ctx,
                data=science.data / np.float32(median),
                provenance=Provenance.of(ctx, [input_file.label]),
                header=science.header,
                wcs=science.wcs,
                updates={"HISTORY": f"Divided by its median, {median:.7g}"},
                removals=("BUNIT",),
                index=number,
            )
            ctx.progress(0.95 * number / count, f"Normalised frame {number} of {count}")
        ctx.progress(1.0, "Done")
