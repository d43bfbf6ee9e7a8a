"""The JSON shapes (docs/frames.md, "Representations"), written out once for every test that checks keys."""

FIELD_KEYS = (
    "observation_date",
    "observation_day",
    "proposal_id",
    "instrument_id",
    "target_name",
    "reduction_level",
    "site_id",
    "telescope_id",
    "exposure_time",
    "primary_optical_element",
    "public_date",
    "configuration_type",
    "observation_id",
    "request_id",
)
LEGACY_KEYS = {
    "DATE_OBS": "observation_date",
    "DAY_OBS": "observation_day",
    "PROPID": "proposal_id",
    "INSTRUME": "instrument_id",
    "OBJECT": "target_name",
    "RLEVEL": "reduction_level",
    "SITEID": "site_id",
    "TELID": "telescope_id",
    "EXPTIME": "exposure_time",
    "FILTER": "primary_optical_element",
    "L1PUBDAT": "public_date",
    "OBSTYPE": "configuration_type",
    "BLKUID": "observation_id",
    "REQNUM": "request_id",
}
# A list item or detail without `area` and `related_frames`, which depend on the frame and the query.
ITEM_KEYS = {"id", "basename", *FIELD_KEYS, "version_set", "url", "filename", *LEGACY_KEYS}
RECORD_KEYS = {"id", "basename", "area", "related_frames", "version_set", "filename", "url", *FIELD_KEYS}
VERSION_KEYS = {"id", "key", "md5", "extension", "url", "created"}
THUMBNAIL_KEYS = {"id", "frame", "size", "basename", "extension", "key", "url"}
LIMIT_ENVELOPE = {"count", "next", "previous", "results", "count_estimated"}
CURSOR_ENVELOPE = {"next", "previous", "results"}


def record_read_back(response) -> dict:
    """The record of the frame an ingest answered for, as read back on the writer: what its 201 body must equal.
    The posted `area` is echoed, so it is taken from the answer."""
    from frames.links import DownloadLinks
    from frames.representations import frame_record
    from frames.selectors import frame_written

    frame = frame_written(frame_id=response.json()["id"])
    return frame_record(frame, DownloadLinks(response.wsgi_request), area=response.json()["area"])
