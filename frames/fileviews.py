"""Views that answer with a file's bytes: signed local download links (with ranges), a frame's file decompressed,
and a frame's catalog."""

import itertools
import logging
import re

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from frames import downloads, fitsops, selectors
from frames.http import id_or_404
from frames.models import Version

logger = logging.getLogger(__name__)

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_TYPES = {
    ".fits": "image/fits",
    ".fits.fz": "image/fits",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".pdf": "application/pdf",
    ".tar.gz": "application/gzip",
    ".json": "application/json",
}


class LocalDownloadView(APIView):
    """Bytes of one stored version or thumbnail from the local store, behind a signed, expiring link."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request, token: str, filename: str):
        try:
            obj = selectors.downloadable_object(token=token)
        except selectors.DownloadLinkExpired:
            raise PermissionDenied("This download link has expired.") from None
        if obj is None:
            raise Http404()
        store = get_filestore()
        try:
            size = store.size(obj.store_path, obj.key)
        except FileStoreNotFound:
            raise Http404() from None
        extension = obj.extension
        headers = {
            "Content-Type": CONTENT_TYPES.get(extension.lower(), "application/octet-stream"),
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition_header(True, obj_filename(obj)),
        }
        if getattr(obj, "md5", None):
            headers["ETag"] = f'"{obj.md5}"'
        byte_range = None
        status_code = 200
        range_header = request.headers.get("Range")
        if range_header:
            byte_range = parse_range(range_header, size)
            if byte_range is None:
                response = Response({"detail": "Requested range not satisfiable."}, status=416)
                response["Content-Range"] = f"bytes */{size}"
                return response
            status_code = 206
            headers["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{size}"
        length = byte_range[1] - byte_range[0] + 1 if byte_range else size
        headers["Content-Length"] = str(length)
        body = [] if request.method == "HEAD" else store.open(obj.store_path, obj.key, byte_range=byte_range)
        return StreamingHttpResponse(body, status=status_code, headers=headers)

    def head(self, request, token: str, filename: str):
        return self.get(request, token, filename)


def obj_filename(obj) -> str:
    basename = obj.frame.basename if isinstance(obj, Version) else obj.basename
    return f"{basename}{obj.extension}"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    match = RANGE_RE.match(header.strip())
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:
        suffix = int(match[2])
        if suffix == 0:
            return None
        return max(size - suffix, 0), size - 1
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


DOWNLOAD_FAILED = "There was a problem downloading your files. Please try again later or select fewer files."


class FunpackView(APIView):
    """The current file of a visible frame, decompressed in-process when it is tile-compressed (.fits.fz)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk: str):
        frame = selectors.downloadable_frame(user=request.user, frame_id=id_or_404(pk))
        if frame is None:
            raise NotFound()
        if not downloads.current_version(frame).extension.startswith(".fits"):
            return Response({"detail": f"Frame {frame.id} is not a FITS file."}, status=400)
        try:
            filename, chunks = downloads.funpacked(frame)
            first = next(chunks, b"")  # fail here, before any byte is sent, if the file cannot be read
        except FileStoreNotFound:
            raise NotFound() from None
        except FileStoreUnavailable:
            raise
        except Exception:  # a corrupt file: logged with its id, answered with the reference's message
            logger.exception("Could not decompress frame %s", frame.id)
            return Response({"detail": DOWNLOAD_FAILED}, status=500)
        response = StreamingHttpResponse(itertools.chain([first], chunks), content_type="application/octet-stream")
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response


class CatalogView(APIView):
    """The catalog of a visible frame: its SCI header and CAT table, extracted in-process."""

    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, pk: str):
        frame = selectors.downloadable_frame(user=request.user, frame_id=id_or_404(pk))
        if frame is None:
            raise NotFound()
        try:
            filename, data = downloads.catalog_file(frame)
        except FileStoreNotFound:
            raise NotFound() from None
        except fitsops.NoCatalog:
            raise NotFound("This frame has no catalog.") from None
        except FileStoreUnavailable:
            raise
        except Exception:  # a corrupt file: logged with its id, answered with the reference's message
            logger.exception("Could not read the catalog of frame %s", frame.id)
            return Response({"detail": DOWNLOAD_FAILED}, status=500)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response
