"""The datalab's synchronous image analysis actions by wire name, and the JSON sanitiser every answer passes through."""

from types import ModuleType

from datalab.analysis import centroiding, get_jpg, line_profile, raw_data, source_catalog, wcs
from datalab.jsonsafe import json_safe

# Each module has `RequestSerializer` (the body, basename and source included) and `run(path, params)`.
ACTIONS: dict[str, ModuleType] = {
    "wcs": wcs,
    "raw-data": raw_data,
    "get-jpg": get_jpg,
    "source-catalog": source_catalog,
    "line-profile": line_profile,
    "centroiding": centroiding,
}


__all__ = ["ACTIONS", "json_safe"]
