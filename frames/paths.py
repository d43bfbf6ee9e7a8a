"""Object paths in the file store, computed once at ingest exactly as the ingester built them for its upload."""

import datetime

THUMBNAIL_EXTENSIONS = (".jpg", ".jpeg")


def is_bad_pixel_mask(*, basename: str, configuration_type: str, headers: dict) -> bool:
    name = basename.lower().replace("_", "-")
    return (
        configuration_type.upper() == "BPM"
        or str(headers.get("EXTNAME", "")).strip().upper() == "BPM"
        or name.startswith("bpm-")
        or "-bpm-" in name
        or name.endswith("-bpm")
    )


def store_path(
    *,
    basename: str,
    extension: str,
    site_id: str,
    instrument_id: str,
    observation_day: datetime.date | None,
    reduction_level: int,
    configuration_type: str = "",
    headers: dict | None = None,
) -> str:
    day = observation_day.strftime("%Y%m%d") if observation_day else ""
    ext = extension.lower()
    if ext in THUMBNAIL_EXTENSIONS:
        return f"{site_id}/{instrument_id}/{day}/thumbnails/{basename}{extension}"
    if ext == ".fits.fz" and is_bad_pixel_mask(
        basename=basename, configuration_type=configuration_type, headers=headers or {}
    ):
        return f"{site_id}/{instrument_id}/bpm/{basename}{extension}"
    level = "raw" if reduction_level == 0 else "processed"
    return f"{site_id}/{instrument_id}/{day}/{level}/{basename}{extension}"
