"""HTTP views of the frames app: thin wrappers around selectors, services and the shapes of serializers.py."""

import hashlib
import itertools
import json
import logging
import re

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from kombu.exceptions import KombuError
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from archive.exceptions import PayloadTooLarge, ServiceUnavailable
from archive.filestore import FileStoreNotFound, FileStoreUnavailable, get_filestore
from archive.pagination import ArchivePagination
from archive.params import parse_flag
from archive.zipstream import stream_zip
from authentication.backends import zip_authentication_classes
from authentication.selectors import user_proposals
from frames import aggregates, deletion, downloads, fitsingest, fitsops, selectors, services
from frames.links import DownloadLinks
from frames.models import Frame, Thumbnail, Version
from frames.serializers import (
    FrameIngestSerializer,
    FrameUploadSerializer,
    ThumbnailIngestSerializer,
    ZipRequestSerializer,
    frame_record,
    frame_representation,
    parse_datetime_utc,
    thumbnail_representation,
    version_representation,
)
from frames.tasks import cache_aggregates

logger = logging.getLogger(__name__)

# The reference's small queries, counted exactly (docs/frames.md, "Ordering, pagination and counts").
SMALL_QUERY_PARAMETERS = ("request_id", "REQNUM", "observation_id", "BLKUID", "basename_exact")
# Contains-searches. Their trigram index cannot give the list's order, so a page of them reads every match (and sorts)
# or walks the date index through non-matches until a page turns up: about what counting them costs, and they are
# counted whenever the estimate is below the threshold. Such lists are paged from the scan that counts them.
CONTAINS_PARAMETERS = ("basename", "OBJECT", "target_name")


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
    """Spools an uploaded file to disk and computes its md5 on the way, so the file is never read twice for it."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.md5 = hashlib.md5()

    def receive_data_chunk(self, raw_data, start):
        self.md5.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        upload.md5 = self.md5.hexdigest()
        return upload


def _prepare_upload(request) -> None:
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


def _flag(request, name: str, default: bool) -> bool:
    """A flag parameter: any spelling of true or false; anything else is a 400 naming the parameter."""
    try:
        return parse_flag(request.query_params.get(name), default)
    except ValueError as exc:
        raise ValidationError({name: [str(exc)]}) from None


def _window_days(params) -> float | None:
    try:
        return (parse_datetime_utc(params["end"]) - parse_datetime_utc(params["start"])).total_seconds() / 86400
    except (KeyError, ValueError):
        return None


class VaryOnCredentials:
    """What these views answer depends on who asks: shared caches must key on the credentials too."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response


class FrameViewSet(
    VaryOnCredentials,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Frames of the archive: search, one frame, its headers and related frames, ingest, aggregates."""

    queryset = Frame.objects.none()
    pagination_class = ArchivePagination
    filter_backends: list = []
    parser_classes = [LenientJSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        if self.action in ("create", "destroy", "upload"):
            return [IsSuperuser()]
        return [AllowAny()]

    def initial(self, request, *args, **kwargs):
        # Before authentication: a session's CSRF check would otherwise read the whole body first.
        if self.action == "upload":
            _prepare_upload(request)
        super().initial(request, *args, **kwargs)

    # --- pagination hooks ---------------------------------------------------------------------------------------
    def ordering_key(self, request):
        return selectors.frame_ordering(request.query_params)

    def estimate_allowed(self, request) -> bool:
        """Whether the planner's estimate may stand for the count. Not when the list names a proposal the caller
        may not see: the estimate is made from statistics over every row, so it would tell the size of that
        proposal's proprietary data; such a list is counted over what the caller sees, or not at all."""
        user = request.user
        named = request.query_params.getlist("proposal_id") + request.query_params.getlist("PROPID")
        if not named or (user.is_authenticated and user.is_superuser):
            return True
        own = set(user_proposals(user=user))
        return all(proposal in own for proposal in named)

    def count_timeout_ms(self, request) -> int | None:
        params = request.query_params
        if not self.estimate_allowed(request):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        if "force_count" in params and request.user.is_authenticated:
            # An exact count for whoever asks, but only staff may hold the database for the longer timeout.
            if request.user.is_staff:
                return settings.PAGINATION_FORCE_COUNT_TIMEOUT_MS
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        if any(params.get(name) for name in SMALL_QUERY_PARAMETERS):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        days = _window_days(params)
        if days is not None:
            narrow = params.get("proposal_id") or params.get("PROPID") or params.get("target_name_exact")
            if days <= 7 or (narrow and days <= 63):
                return settings.PAGINATION_COUNT_TIMEOUT_MS
        return None

    def count_first(self, request) -> bool:
        return any(request.query_params.get(name) for name in CONTAINS_PARAMETERS)

    # --- reads --------------------------------------------------------------------------------------------------
    @extend_schema(
        parameters=[
            OpenApiParameter("covers", OpenApiTypes.STR, description="WKT POINT(ra dec): footprints covering it"),
            OpenApiParameter("intersects", OpenApiTypes.STR, description="WKT geometry: footprints intersecting it"),
            OpenApiParameter("ra", OpenApiTypes.NUMBER, description="Cone centre RA (degrees)"),
            OpenApiParameter("dec", OpenApiTypes.NUMBER, description="Cone centre Dec (degrees)"),
            OpenApiParameter("radius", OpenApiTypes.NUMBER, description="Cone radius (degrees)"),
            OpenApiParameter("public", OpenApiTypes.BOOL),
            OpenApiParameter("ordering", OpenApiTypes.STR),
            OpenApiParameter("limit", OpenApiTypes.INT),
            OpenApiParameter("offset", OpenApiTypes.INT),
            OpenApiParameter("pagination_style", OpenApiTypes.STR, enum=["limit", "cursor"]),
            OpenApiParameter("include_related_frames", OpenApiTypes.BOOL),
            OpenApiParameter("include_thumbnails", OpenApiTypes.BOOL),
        ],
        operation_id="frames_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request, *args, **kwargs):
        queryset = selectors.frame_list(user=request.user, params=request.query_params)
        page = self.paginate_queryset(queryset)
        include_related = _flag(request, "include_related_frames", True)
        include_thumbnails = _flag(request, "include_thumbnails", False)
        selectors.attach_related(page, related=include_related, thumbnails=include_thumbnails)
        links = DownloadLinks(request)
        data = [
            frame_representation(frame, links, include_related=include_related, include_thumbnails=include_thumbnails)
            for frame in page
        ]
        return self.get_paginated_response(data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        include_related = _flag(request, "include_related_frames", True)
        include_thumbnails = _flag(request, "include_thumbnails", False)
        frame = selectors.frame_get(
            user=request.user, frame_id=self._frame_id(), related=include_related, thumbnails=include_thumbnails
        )
        if frame is None:
            raise NotFound()
        data = frame_representation(
            frame, DownloadLinks(request), include_related=include_related, include_thumbnails=include_thumbnails
        )
        return Response(data)

    def _frame_id(self) -> int:
        return id_or_404(self.kwargs["pk"])

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def headers(self, request, pk=None):
        data = selectors.frame_headers(user=request.user, frame_id=self._frame_id())
        if data is None:
            raise NotFound()
        return Response({"data": data})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def related(self, request, pk=None):
        frames = selectors.frame_related(user=request.user, frame_id=self._frame_id())
        if frames is None:
            raise NotFound()
        links = DownloadLinks(request)
        return Response([frame_record(frame, links) for frame in frames])

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def aggregate(self, request):
        params = request.query_params
        if aggregates.is_filtered_aggregate(params):
            try:
                data, public_ttl = aggregates.aggregate_filtered(user=request.user, params=params)
            except aggregates.AggregateTimeout as exc:
                raise ServiceUnavailable(
                    f"The aggregation took longer than {exc.timeout_ms} ms; narrow the range or add filters."
                ) from None
            response = Response(data)
            if request.user.is_authenticated:
                patch_cache_control(response, private=True, max_age=300)
            elif public_ttl:
                patch_cache_control(response, max_age=public_ttl)
        else:
            try:
                data = aggregates.aggregate_all(user=request.user)
            except aggregates.AggregatesNotReady:
                try:
                    cache_aggregates.apply_async(retry=False)
                except (KombuError, OSError):  # beat rebuilds it anyway; the answer is the same 503
                    logger.warning("Could not queue an aggregate rebuild: the broker is unavailable")
                raise ServiceUnavailable(
                    "Aggregates have not been generated yet; try again later.", retry_after=60
                ) from None
            response = Response(data)
        return response

    # --- ingest -------------------------------------------------------------------------------------------------
    @extend_schema(request=FrameIngestSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        serializer = FrameIngestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.frame_ingest(data=serializer.validated_data)
        record = frame_record(result.frame, DownloadLinks(request), area=serializer.validated_data.get("area"))
        return Response(record, status=status.HTTP_201_CREATED)

    @extend_schema(request=ZipRequestSerializer, responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[AllowAny],
        parser_classes=[JSONParser, FormParser, MultiPartParser],
        # The web client's hidden-iframe form cannot set headers: it sends `auth_token` in the body.
        authentication_classes=zip_authentication_classes(),
    )
    def zip(self, request):
        """A zip of the frames' current files, streamed as it is built."""
        serializer = ZipRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = serializer.validated_data
        frames = selectors.zip_frames(user=request.user, frame_ids=options["frame_ids"])
        if not frames:
            raise NotFound()
        plan = downloads.zip_plan(frames, uncompress=options["uncompress"], catalog_only=options["catalog_only"])
        directory = plan.directory
        chunks = stream_zip(plan.members, missing_name=f"{directory}/MISSING.txt", sized=plan.length is not None)
        response = StreamingHttpResponse(_logged_stream(chunks, directory), content_type="application/zip")
        response["Content-Disposition"] = content_disposition_header(True, f"{directory}.zip")
        response["X-Accel-Buffering"] = "no"
        if plan.length is not None:
            response["Content-Length"] = str(plan.length)
        response.set_cookie("fileDownload", "true", path="/")
        response.xframe_options_exempt = True  # the web client downloads through a hidden iframe
        return response

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        """Delete the frame, its versions, headers and thumbnails; its files go after the commit."""
        frames = Frame.objects.using("default").filter(pk=self._frame_id())
        if not frames.exists():
            raise NotFound()
        deletion.frames_delete(frames=frames)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request={"multipart/form-data": FrameUploadSerializer},
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="The archived frame (record shape)"),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="dry_run: {record, store_path}; nothing stored"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Not FITS, wrong name, or a keyword named"),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="Already archived: {detail, frame}"),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="Larger than FRAME_UPLOAD_MAX_BYTES"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="File store or observation portal unreachable"),
        },
        description="Archive a FITS file (.fits, .fits.fz) server-side, as the ingester would: headers, footprint, "
        "public date and md5 from the file, stored at its path, ingested as by POST /frames/. Superusers only.",
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request):
        serializer = FrameUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        result = fitsingest.fits_ingest(
            fileobj=upload.file,
            filename=upload.name,
            md5=getattr(upload, "md5", None),
            size=upload.size,
            metadata=serializer.validated_data.get("metadata"),
            dry_run=serializer.validated_data["dry_run"],
        )
        if result.frame_id is None:
            return Response({"record": result.body, "store_path": result.store_path})
        record = frame_record(result.frame, DownloadLinks(request), area=result.body["area"])
        return Response(record, status=status.HTTP_201_CREATED)


def _logged_stream(chunks, name: str):
    """Once headers are sent a failure can only cut the stream short; it is logged so that it is not silent."""
    try:
        yield from chunks
    except Exception:
        logger.exception("Zip %s aborted while streaming", name)
        raise


class VersionViewSet(VaryOnCredentials, viewsets.ReadOnlyModelViewSet):
    """File versions, for staff: the ingester asks `?md5=` whether a file is already archived."""

    queryset = Version.objects.none()
    permission_classes = [IsAdminUser]
    pagination_class = ArchivePagination
    filter_backends: list = []

    def ordering_key(self, request):
        return ("created", True)

    def count_timeout_ms(self, request) -> int | None:
        return settings.PAGINATION_FORCE_COUNT_TIMEOUT_MS

    def get_queryset(self):
        return selectors.version_list(user=self.request.user, params=self.request.query_params)

    def _represent(self, versions):
        links = DownloadLinks(self.request)
        return [version_representation(version, links.version_url(version.frame, version)) for version in versions]

    @extend_schema(
        parameters=[OpenApiParameter("md5", OpenApiTypes.STR)],
        operation_id="versions_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._represent(page))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        version = self.get_object()
        return Response(self._represent([version])[0])


class ThumbnailViewSet(
    VaryOnCredentials,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Thumbnails of visible frames; superusers post them as the ingester does."""

    queryset = Thumbnail.objects.none()
    pagination_class = ArchivePagination
    filter_backends: list = []
    parser_classes = [LenientJSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        if self.action in ("create", "destroy"):
            return [IsSuperuser()]
        return [AllowAny()]

    def ordering_key(self, request):
        return ("id", True)

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        thumbnail = Thumbnail.objects.using("default").filter(pk=id_or_404(kwargs["pk"])).first()
        if thumbnail is None:
            raise NotFound()
        deletion.thumbnail_delete(thumbnail=thumbnail)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def count_timeout_ms(self, request) -> int | None:
        params = request.query_params
        if any(params.get(name) for name in ("frame_basename", "observation_id", "request_id")):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        return None

    @extend_schema(operation_id="thumbnails_list", responses={200: OpenApiTypes.OBJECT})
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(selectors.thumbnail_list(user=request.user, params=request.query_params))
        links = DownloadLinks(request)
        return self.get_paginated_response([thumbnail_representation(t, links) for t in page])

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, *args, **kwargs):
        thumbnail = selectors.thumbnail_get(user=request.user, thumbnail_id=id_or_404(kwargs["pk"]))
        if thumbnail is None:
            raise NotFound()
        return Response(thumbnail_representation(thumbnail, DownloadLinks(request)))

    @extend_schema(request=ThumbnailIngestSerializer, responses={201: OpenApiTypes.OBJECT})
    def create(self, request, *args, **kwargs):
        serializer = ThumbnailIngestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        thumbnail_id, frame_id = services.thumbnail_ingest(data=serializer.validated_data)
        thumbnail = Thumbnail.objects.using("default").get(pk=thumbnail_id)
        frame = selectors.frame_written(frame_id=frame_id)
        links = DownloadLinks(request)
        item = thumbnail_representation(thumbnail, links)
        body = {
            "id": item["id"],
            "frame": frame_record(frame, links),
            "size": item["size"],
            "basename": item["basename"],
            "url": item["url"],
            "key": item["key"],
            "extension": item["extension"],
        }
        return Response(body, status=status.HTTP_201_CREATED)


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
            byte_range = _parse_range(range_header, size)
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


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
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
