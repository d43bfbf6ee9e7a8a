"""HTTP pieces the frames views share: a JSON parser for FITS values, the superuser permission, path ids, flag
parameters, upload spooling with its md5, and viewset mixins for caches, OPTIONS and download links."""

import json
from functools import cached_property

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAdminUser

from archive.exceptions import PayloadTooLarge
from archive.params import parse_flag
from frames.checksums import ChecksumReader
from frames.links import DownloadLinks


class LenientJSONParser(JSONParser):
    """JSON where NaN and Infinity literals (which FITS headers produce) become null: jsonb refuses them."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(stream.read().decode(encoding), parse_constant=lambda _: None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class IsSuperuser(IsAdminUser):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


def id_or_404(value) -> int:
    """A path id: anything but a positive 64-bit integer is simply not found."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound() from None
    if not 0 < number < 2**63:
        raise NotFound()
    return number


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Spools an uploaded file to disk and measures it on the way (md5, CRC-32), so the file is never read twice for
    them."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.checksum = ChecksumReader()

    def receive_data_chunk(self, raw_data, start):
        self.checksum.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        measured = self.checksum.result()
        upload.md5, upload.crc32 = measured.md5, measured.crc32
        return upload


def prepare_upload(request) -> None:
    """Refuse an upload over FRAME_UPLOAD_MAX_BYTES by its Content-Length, before a byte of the body is read, and
    hash whatever is read."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.FRAME_UPLOAD_MAX_BYTES
    if length > limit:
        raise PayloadTooLarge(f"The upload is larger than the limit of {limit} bytes.")
    request._request.upload_handlers = [HashingUploadHandler(request._request)]


def flag(request, name: str, default: bool) -> bool:
    """A flag parameter: any spelling of true or false; anything else is a 400 naming the parameter."""
    try:
        return parse_flag(request.query_params.get(name), default)
    except ValueError as exc:
        raise ValidationError({name: [str(exc)]}) from None


class VaryOnCredentials:
    """What these views answer depends on who asks: shared caches must key on the credentials too."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class ActionByMethod:
    """The action a request stands for. DRF names every OPTIONS request's action "metadata", also while it asks for
    the serializer of a POST clone of it: that clone is described with the serializer and permissions of the POST."""

    @property
    def current_action(self) -> str | None:
        if self.action == "metadata" and self.request is not None:
            return self.action_map.get(self.request.method.lower(), self.action)
        return self.action


class WithDownloadLinks:
    """Gives the representations the request's download links (made once per request) through their context."""

    @cached_property
    def links(self) -> DownloadLinks:
        return DownloadLinks(self.request)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "links": self.links}
