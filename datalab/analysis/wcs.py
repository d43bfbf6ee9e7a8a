"""The `wcs` action: the science image's celestial WCS as reference point and CD matrix, from its header alone."""

from pathlib import Path

from datalab.analysis.fitsread import ImageRequestSerializer, image_shape, read_science_header
from datalab.operations.base import OperationError
from datalab.operations.imaging import usable_wcs


class RequestSerializer(ImageRequestSerializer):
    pass


def run(path: Path, params: dict) -> dict:
    header = read_science_header(path)
    wcs = usable_wcs(header)
    if wcs is None:
        raise OperationError("No WCS solution found for this image")
    # wcslib folds CDELT, PC and CROTA into one matrix; for a CD header it is the CD matrix itself.
    cd = wcs.pixel_scale_matrix
    return {
        "crval": [float(value) for value in wcs.wcs.crval],
        "crpix": [float(value) for value in wcs.wcs.crpix],
        "cd1": [float(cd[0, 0]), float(cd[0, 1])],
        "cd2": [float(cd[1, 0]), float(cd[1, 1])],
        "fits_dimensions": list(image_shape(header)),
    }
