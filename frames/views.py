"""The frames API's viewsets: frames (search, one frame, headers, related, aggregate, ingest, upload, zip), versions
and thumbnails. Thin: selectors read, services write, serializers describe what comes in and representations what
goes out. Views that answer with a file's bytes are in fileviews.py."""

import logging

from django.conf import settings
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from kombu.exceptions import KombuError
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response

from archive.exceptions import ServiceUnavailable
from archive.pagination import ArchivePagination
from authentication.backends import zip_authentication_classes
from frames import aggregates, deletion, exports, fitsingest, listing, selectors, services, zipdownload
from frames.http import (
    ActionByMethod,
    IsSuperuser,
    LenientJSONParser,
    VaryOnCredentials,
    WithDownloadLinks,
    flag,
    id_or_404,
    prepare_upload,
)
from frames.models import Frame, Thumbnail, Version
from frames.representations import (
    AggregateSerializer,
    ConflictSerializer,
    DownloadSummarySerializer,
    DryRunSerializer,
    FrameHeadersSerializer,
    FrameRecordSerializer,
    FrameSerializer,
    ThumbnailCreatedSerializer,
    ThumbnailSerializer,
    VersionSerializer,
    frame_record,
)
from frames.serializers import (
    FrameIngestSerializer,
    FrameUploadSerializer,
    ThumbnailIngestSerializer,
    ZipRequestSerializer,
)
from frames.tasks import cache_aggregates

logger = logging.getLogger(__name__)


class FrameViewSet(
    VaryOnCredentials,
    ActionByMethod,
    listing.FrameListPolicy,
    WithDownloadLinks,
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
    # What each action reads (request bodies) or, for reads, answers with.
    serializer_classes = {
        "create": FrameIngestSerializer,
        "upload": FrameUploadSerializer,
        "zip": ZipRequestSerializer,
        "headers": FrameHeadersSerializer,
        "related": FrameRecordSerializer,
        "aggregate": AggregateSerializer,
    }

    def get_permissions(self):
        if self.current_action in ("create", "destroy", "upload"):
            return [IsSuperuser()]
        return [AllowAny()]

    def get_serializer_class(self):
        return self.serializer_classes.get(self.current_action, FrameSerializer)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action in ("list", "retrieve"):
            context["include_related"] = flag(self.request, "include_related_frames", True)
            context["include_thumbnails"] = flag(self.request, "include_thumbnails", False)
        return context

    def get_queryset(self):
        return selectors.frame_list(user=self.request.user, params=self.request.query_params)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        context = self.get_serializer_context()
        selectors.attach_related(page, related=context["include_related"], thumbnails=context["include_thumbnails"])
        return page

    def get_object(self):
        context = self.get_serializer_context()
        frame = selectors.frame_get(
            user=self.request.user,
            frame_id=self._frame_id(),
            related=context["include_related"],
            thumbnails=context["include_thumbnails"],
        )
        if frame is None:
            raise NotFound()
        return frame

    def initial(self, request, *args, **kwargs):
        # Before authentication: a session's CSRF check would otherwise read the whole body first.
        if self.action == "upload":
            prepare_upload(request)
        super().initial(request, *args, **kwargs)

    # --- reads --------------------------------------------------------------------------------------------------
    def get_renderers(self):
        renderers = super().get_renderers()
        # Exports of a whole search (frames.exports); the schema describes them by the `format` parameter, since
        # their answer is no page of JSON.
        if self.action == "list" and not getattr(self, "swagger_fake_view", False):
            renderers += [exports.CSVRenderer(), exports.ECSVRenderer(), exports.VOTableRenderer()]
        return renderers

    @extend_schema(parameters=listing.list_parameters(exports=True), operation_id="frames_list")
    def list(self, request, *args, **kwargs):
        export_format = request.accepted_renderer.format
        if export_format in exports.EXPORT_FORMATS:
            return exports.export_response(request, export_format)
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("include_related_frames", OpenApiTypes.BOOL),
            OpenApiParameter("include_thumbnails", OpenApiTypes.BOOL),
        ]
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def _frame_id(self) -> int:
        return id_or_404(self.kwargs["pk"])

    @action(detail=True, methods=["get"])
    def headers(self, request, pk=None):
        data = selectors.frame_headers(user=request.user, frame_id=self._frame_id())
        if data is None:
            raise NotFound()
        return Response(self.get_serializer({"data": data}).data)

    @extend_schema(responses={200: FrameRecordSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def related(self, request, pk=None):
        frames = selectors.frame_related(user=request.user, frame_id=self._frame_id())
        if frames is None:
            raise NotFound()
        return Response(self.get_serializer(frames, many=True).data)

    @action(detail=False, methods=["get"], pagination_class=None)
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
    @extend_schema(request=FrameIngestSerializer, responses={201: FrameRecordSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.frame_ingest(data=serializer.validated_data)
        return Response(self._record(result.frame, area=serializer.validated_data.get("area")), status=201)

    def _record(self, frame: Frame, **overrides) -> dict:
        """The record shape of a frame just written; `area` echoes the footprint as it was posted."""
        context = {**self.get_serializer_context(), "record_overrides": overrides}
        return FrameRecordSerializer(frame, context=context).data

    @extend_schema(
        methods=["POST"],
        request=ZipRequestSerializer,
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
        description="A zip of the frames named in the body (JSON, or the web client's form).",
    )
    @extend_schema(
        methods=["GET"],
        parameters=[
            OpenApiParameter("frame_ids", OpenApiTypes.STR, description="ids separated by commas; else the filters"),
            OpenApiParameter("uncompress", OpenApiTypes.BOOL),
            OpenApiParameter("catalog_only", OpenApiTypes.BOOL),
            *listing.list_parameters(),
        ],
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            (206, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The range asked for"),
        },
        description="A zip of the frames named by `frame_ids`, or matching the filters of GET /frames/; resumable "
        "(Range, If-Range) when every file's size and CRC-32 are recorded.",
    )
    @action(
        detail=False,
        methods=["get", "post"],
        permission_classes=[AllowAny],
        parser_classes=[JSONParser, FormParser, MultiPartParser],
        # The web client's hidden-iframe form cannot set headers: it sends `auth_token` in the body.
        authentication_classes=zip_authentication_classes(),
    )
    def zip(self, request):
        """A zip of the frames' current files with MANIFEST.csv and md5sums.txt (frames.zipdownload)."""
        return zipdownload.zip_response(request)

    @extend_schema(
        parameters=listing.list_parameters(),
        responses={200: DownloadSummarySerializer},
        description="What a download of the frames these filters match would hold, before anyone starts it.",
    )
    @action(detail=False, methods=["get"], url_path="download-summary", pagination_class=None)
    def download_summary(self, request):
        summary = selectors.download_summary(user=request.user, params=request.query_params)
        return Response(DownloadSummarySerializer(summary).data)

    @extend_schema(
        parameters=listing.list_parameters(),
        responses={(200, "text/x-shellscript"): OpenApiTypes.STR},
        description="A shell script that fetches every frame these filters match, one by one, resuming and checking "
        "each file's md5: for downloads larger than a zip should be.",
    )
    @action(detail=False, methods=["get"], url_path="download-script", pagination_class=None)
    def download_script(self, request):
        return zipdownload.script_response(request)

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
            201: OpenApiResponse(FrameRecordSerializer, description="The archived frame (record shape)"),
            200: OpenApiResponse(DryRunSerializer, description="dry_run: nothing stored"),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Not FITS, wrong name, or a keyword named"),
            409: OpenApiResponse(ConflictSerializer, description="Already archived"),
            413: OpenApiResponse(OpenApiTypes.OBJECT, description="Larger than FRAME_UPLOAD_MAX_BYTES"),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="File store or observation portal unreachable"),
        },
        description="Archive a FITS file (.fits, .fits.fz) server-side, as the ingester would: headers, footprint, "
        "public date and md5 from the file, stored at its path, ingested as by POST /frames/. Superusers only.",
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        result = fitsingest.fits_ingest(
            fileobj=upload.file,
            filename=upload.name,
            md5=getattr(upload, "md5", None),
            size=upload.size,
            crc32=getattr(upload, "crc32", None),
            metadata=serializer.validated_data.get("metadata"),
            dry_run=serializer.validated_data["dry_run"],
        )
        if result.frame_id is None:
            return Response(DryRunSerializer({"record": result.body, "store_path": result.store_path}).data)
        return Response(self._record(result.frame, area=result.body["area"]), status=status.HTTP_201_CREATED)


class VersionViewSet(VaryOnCredentials, WithDownloadLinks, viewsets.ReadOnlyModelViewSet):
    """File versions, for staff: the ingester asks `?md5=` whether a file is already archived."""

    queryset = Version.objects.none()
    serializer_class = VersionSerializer
    permission_classes = [IsAdminUser]
    pagination_class = ArchivePagination
    filter_backends: list = []

    def ordering_key(self, request):
        return ("created", True)

    def count_timeout_ms(self, request) -> int | None:
        return settings.PAGINATION_FORCE_COUNT_TIMEOUT_MS

    def get_queryset(self):
        return selectors.version_list(user=self.request.user, params=self.request.query_params)

    @extend_schema(parameters=[OpenApiParameter("md5", OpenApiTypes.STR)], operation_id="versions_list")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class ThumbnailViewSet(
    VaryOnCredentials,
    ActionByMethod,
    WithDownloadLinks,
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
        if self.current_action in ("create", "destroy"):
            return [IsSuperuser()]
        return [AllowAny()]

    def get_serializer_class(self):
        return ThumbnailIngestSerializer if self.current_action == "create" else ThumbnailSerializer

    def get_queryset(self):
        return selectors.thumbnail_list(user=self.request.user, params=self.request.query_params)

    def get_object(self):
        thumbnail = selectors.thumbnail_get(user=self.request.user, thumbnail_id=id_or_404(self.kwargs["pk"]))
        if thumbnail is None:
            raise NotFound()
        return thumbnail

    def ordering_key(self, request):
        return ("id", True)

    def count_timeout_ms(self, request) -> int | None:
        params = request.query_params
        if any(params.get(name) for name in ("frame_basename", "observation_id", "request_id")):
            return settings.PAGINATION_COUNT_TIMEOUT_MS
        return None

    @extend_schema(operation_id="thumbnails_list")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        thumbnail = Thumbnail.objects.using("default").filter(pk=id_or_404(kwargs["pk"])).first()
        if thumbnail is None:
            raise NotFound()
        deletion.thumbnail_delete(thumbnail=thumbnail)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ThumbnailIngestSerializer, responses={201: ThumbnailCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        thumbnail_id, frame_id = services.thumbnail_ingest(data=serializer.validated_data)
        thumbnail = Thumbnail.objects.using("default").get(pk=thumbnail_id)
        item = ThumbnailSerializer(thumbnail, context=self.get_serializer_context()).data
        body = {"id": item["id"], "frame": frame_record(selectors.frame_written(frame_id=frame_id), self.links)}
        body |= {key: item[key] for key in ("size", "basename", "url", "key", "extension")}
        return Response(body, status=status.HTTP_201_CREATED)
