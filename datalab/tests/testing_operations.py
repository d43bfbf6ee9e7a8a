"""Operations that exist only for the worker tests: one that takes its time and reports progress, one that fails
with a message after a while, and one that crashes."""

import time

import numpy as np
from astropy.io import fits

from datalab.operations.base import InputSpec, Operation, OperationError, fits_input
from datalab.operations.products import render_previews

SECONDS = InputSpec("seconds", "Seconds", "How long to work", "float", minimum=0, maximum=600, default=1.0)


class Sleep(Operation):
    """Works for `seconds` in ten steps, then publishes a small FITS product whose pixels are all `seconds`."""

    name = "Test Sleep"
    menu_order = 900
    inputs = (SECONDS, fits_input("input_files", "Input Files", "Ignored", minimum=0, maximum=10, required=False))

    def run(self, ctx):
        seconds = float(ctx.params["seconds"])
        for step in range(10):
            time.sleep(seconds / 10)
            ctx.progress((step + 1) / 10 * 0.9, f"Step {step + 1} of 10")
        data = np.full((16, 16), seconds, np.float32)
        path = ctx.scratch / "product.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(path)
        large, small = render_previews(data)
        ctx.add_file_product(fits_path=path, large_jpg=large, small_jpg=small)


class FailLater(Operation):
    name = "Test Fail Later"
    menu_order = 901
    inputs = (SECONDS,)

    def run(self, ctx):
        time.sleep(float(ctx.params["seconds"]))
        raise OperationError("The test operation failed on purpose.")


class Crash(Operation):
    name = "Test Crash"
    menu_order = 902
    inputs = (SECONDS,)

    def run(self, ctx):
        raise RuntimeError("an unexpected bug")
