"""What the frames API accepts: the ingester's frame and thumbnail bodies, a FITS upload and a zip request
(docs/frames.md). The shapes it answers with are in frames/representations.py."""

import re

from django.conf import settings
from rest_framework import serializers

from frames.fields import (
    ConfigurationTypeField,
    DayField,
    FootprintField,
    LenientFloatField,
    LenientIntegerField,
    NullAsBlankCharField,
    UTCDateTimeField,
    validate_basename,
)
from frames.fitsmeta import is_fits_filename

MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")


class VersionInputSerializer(serializers.Serializer):
    key = serializers.CharField(min_length=1, max_length=1024, trim_whitespace=False)
    md5 = serializers.CharField()
    extension = serializers.CharField(max_length=20, allow_blank=True, trim_whitespace=False)

    def validate_md5(self, value: str) -> str:
        if not MD5_RE.match(value):
            raise serializers.ValidationError("An md5 is 32 hexadecimal digits.")
        return value.lower()

    def validate_extension(self, value: str) -> str:
        if value and (not value.startswith(".") or "/" in value or "\\" in value):
            raise serializers.ValidationError("An extension is empty or starts with '.', without '/'.")
        return value


class FrameIngestSerializer(serializers.Serializer):
    """The body the ingester POSTs to /frames/ (21 keys); anything else is ignored."""

    basename = serializers.CharField(min_length=1, max_length=1000, trim_whitespace=False)
    version_set = VersionInputSerializer(many=True, allow_empty=True)
    headers = serializers.DictField()
    related_frame_filenames = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=1000),
        required=False,
        default=list,
    )
    area = FootprintField(required=False, allow_null=True)
    observation_date = UTCDateTimeField()
    public_date = UTCDateTimeField(required=False, allow_null=True)
    observation_day = DayField()
    reduction_level = LenientIntegerField(required=False, min_value=-32768, max_value=32767)
    observation_id = LenientIntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    request_id = LenientIntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    exposure_time = LenientFloatField(required=False, allow_null=True)
    configuration_type = ConfigurationTypeField(max_length=20, trim_whitespace=False)
    proposal_id = NullAsBlankCharField(max_length=200)
    instrument_id = NullAsBlankCharField(max_length=64)
    target_name = NullAsBlankCharField(max_length=200)
    site_id = NullAsBlankCharField(max_length=3)
    telescope_id = NullAsBlankCharField(max_length=4)
    primary_optical_element = NullAsBlankCharField(max_length=100)

    def validate_basename(self, value: str) -> str:
        return validate_basename(value)

    def validate_related_frame_filenames(self, value: list[str]) -> list[str]:
        names = {name.split(".", 1)[0] for name in value}
        names.discard("")
        for name in names:
            validate_basename(name)
        return sorted(names)

    def validate_version_set(self, value: list[dict]) -> list[dict]:
        unique: dict[str, dict] = {}
        for item in value:
            seen = unique.get(item["md5"])
            if seen is not None and seen != item:
                raise serializers.ValidationError("The same md5 is given twice with different keys.")
            unique[item["md5"]] = item
        return list(unique.values())

    def validate(self, attrs: dict) -> dict:
        related = attrs.get("related_frame_filenames")
        if related:
            attrs["related_frame_filenames"] = [name for name in related if name != attrs["basename"]]
        return attrs


class ThumbnailIngestSerializer(FrameIngestSerializer):
    """The ingester's thumbnail body: the thumbnail's own basename and file, and its parent frame."""

    frame_basename = serializers.CharField(min_length=1, max_length=1000, trim_whitespace=False)
    size = serializers.CharField()
    version_set = VersionInputSerializer(many=True, allow_empty=False)
    configuration_type = ConfigurationTypeField(max_length=20, trim_whitespace=False, allow_blank=True, required=False)

    def validate_frame_basename(self, value: str) -> str:
        return validate_basename(value)

    def validate_size(self, value: str) -> str:
        if value not in settings.THUMBNAIL_SIZE_CHOICES:
            raise serializers.ValidationError(f'"{value}" is not a valid choice.')
        return value


ONLY_FITS_FILES = "Only .fits and .fits.fz files can be uploaded."


class FrameUploadSerializer(serializers.Serializer):
    """A FITS file for server-side ingest (`POST /frames/upload/`), with optional keyword overrides."""

    file = serializers.FileField(help_text="The FITS file; its name ends .fits or .fits.fz")
    metadata = serializers.JSONField(
        required=False,
        help_text="A JSON object of FITS keywords and values that override the file's header (ocs_archive's "
        'file_metadata), e.g. {"OBJECT": "M84", "BLKUID": 53195954}',
    )
    dry_run = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Derive and check the record without storing anything: 200 {record, store_path}",
    )

    def validate_file(self, value):
        if not is_fits_filename(value.name):
            raise serializers.ValidationError(ONLY_FITS_FILES)
        return value

    def validate_metadata(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError("metadata must be a JSON object of FITS keywords and values.")
        for keyword, item in value.items():
            if isinstance(item, dict | list):
                raise serializers.ValidationError(f"The value of {keyword} must be a string, number, boolean or null.")
        return value


# --- zip downloads --------------------------------------------------------------------------------------------------

FRAME_IDS_KEY = re.compile(r"^frame_ids(\[\d*\])?$")


class ZipRequestSerializer(serializers.Serializer):
    """The zip request as JSON, or as the web client's form (`frame_ids[0]`, `frame_ids[1]`, ...)."""

    # An id beyond a 64-bit integer can be no frame's: a clear 400 rather than a search for it.
    frame_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), allow_empty=False
    )
    uncompress = serializers.BooleanField(required=False, default=False)
    catalog_only = serializers.BooleanField(required=False, default=False)
    auth_token = serializers.CharField(required=False, allow_blank=True)

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):  # a form: gather the indexed, bracketed and repeated frame_ids in order
            ids = []
            for key in data:
                if FRAME_IDS_KEY.match(key):
                    ids.extend(data.getlist(key))
            plain = {key: data.get(key) for key in data if not FRAME_IDS_KEY.match(key)}
            data = {**plain, "frame_ids": ids}
        ids = data.get("frame_ids") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) > settings.ZIP_DOWNLOAD_MAX_FILES:
            # Refused before each id is parsed: the list is bounded by the count, not only by the body's size.
            raise serializers.ValidationError({"non_field_errors": [self._too_many()]})
        return super().to_internal_value(data)

    @staticmethod
    def _too_many() -> str:
        return (
            f"A maximum of {settings.ZIP_DOWNLOAD_MAX_FILES} frames can be downloaded in one zip file. "
            "Please try again with fewer frame_ids."
        )

    def validate(self, attrs):
        given = len(attrs["frame_ids"])
        if given > settings.ZIP_DOWNLOAD_MAX_FILES:
            raise serializers.ValidationError(self._too_many())
        if attrs["uncompress"] and given > settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES:
            raise serializers.ValidationError(
                f"A maximum of {settings.ZIP_DOWNLOAD_MAX_UNCOMPRESSED_FILES} frames can be downloaded with the "
                "uncompress flag. Please try again with fewer frame_ids."
            )
        attrs["frame_ids"] = list(dict.fromkeys(attrs["frame_ids"]))  # duplicates collapse, order kept
        return attrs
