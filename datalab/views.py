"""The datalab API the front-end calls: sessions, their operations, the operation menu, analysis actions, and the
signed local links of stored products."""

import mimetypes

from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from archive.exceptions import exception_handler as project_exception_handler
from datalab import previews, selectors, services
from datalab.analysis_service import (
    GetTifSerializer,
    analysis_perform,
    analysis_request_serializer,
    request_schemas,
)
from datalab.filters import SessionFilter
from datalab.models import DataOperation, DataSession
from datalab.operations.base import InputError, OperationError, registry
from datalab.serializers import (
    BulkDeleteResultSerializer,
    BulkDeleteSerializer,
    OperationInputSerializer,
    OperationSerializer,
    SessionInputSerializer,
    SessionSerializer,
    SessionUpdateSerializer,
)
from datalab.storage import product_storage, read_link
from datalab.throttling import AnalysisRateThrottle
from frames.models import Version
from frames.selectors import visible_stored_object


def _first_message(data, path: str = "") -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(data, list) and data:
        if all(isinstance(entry, str) for entry in data):
            return f"{path}: {data[0]}" if path and path != "non_field_errors" else str(data[0])
        for position, value in enumerate(data):
            if value:
                return _first_message(value, f"{path}[{position}]")
    return f"{path}: {data}" if path else str(data)


def datalab_exception_handler(exc, context):
    """The project's handler, then the front-end's shape: `detail` and `error` (the text its alerts show) and, for
    invalid input, `fields`."""
    if isinstance(exc, InputError):
        exc = ValidationError({"detail": exc.message, "fields": {exc.field: [exc.message]} if exc.field else {}})
        exc.datalab_message = exc.detail["detail"]
    elif isinstance(exc, OperationError):
        exc = ValidationError({"detail": str(exc)})
        exc.datalab_message = str(exc.detail["detail"])
    response = project_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    message = getattr(exc, "datalab_message", None)
    if message is not None:
        fields = data.get("fields", {}) if isinstance(data, dict) else {}
        response.data = {"detail": str(message), "error": str(message)}
        if fields:
            response.data["fields"] = fields
    elif isinstance(data, dict) and set(data) == {"detail"}:
        response.data = {"detail": str(data["detail"]), "error": str(data["detail"])}
    else:
        text = _first_message(data)
        response.data = {"detail": text, "error": text, "fields": data}
    return response


class DatalabAPIMixin:
    permission_classes = [IsAuthenticated]

    def get_exception_handler(self):
        return datalab_exception_handler


class SessionPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class DataSessionViewSet(DatalabAPIMixin, viewsets.ModelViewSet):
    """The user's data sessions (another user's session is 404 on every route)."""

    serializer_class = SessionSerializer
    pagination_class = SessionPagination
    filterset_class = SessionFilter
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the OpenAPI schema, made without a user
            return DataSession.objects.none()
        return selectors.session_queryset(user=self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "product_urls": {}, "item_links": {}}

    def _render(self, sessions, *, many: bool):
        """Serialize with everything signed and linked for the whole page at once."""
        runs = {op.run.pk: op.run for session in sessions for op in session.operations.all()}
        archive = {
            item["basename"]
            for session in sessions
            for item in session.input_data
            if item.get("source", "archive") == "archive" and item.get("basename")
        }
        context = {
            **self.get_serializer_context(),
            "product_urls": selectors.signed_product_urls(runs=list(runs.values()), base_url=self._base_url()),
            "item_links": selectors.frame_item_links(user=self.request.user, basenames=archive, request=self.request),
        }
        return SessionSerializer(sessions if many else sessions[0], many=many, context=context).data

    def _base_url(self) -> str:
        return self.request.build_absolute_uri("/").rstrip("/")

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self._render(list(page), many=True))

    def retrieve(self, request, *args, **kwargs):
        session = self.get_object()
        services.session_touch(session=session)
        return Response(self._render([session], many=False))

    @extend_schema(request=SessionInputSerializer, responses={201: SessionSerializer})
    def create(self, request, *args, **kwargs):
        data = SessionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_create(user=request.user, **data.validated_data)
        session = self.get_queryset().get(pk=session.pk)
        return Response(self._render([session], many=False), status=status.HTTP_201_CREATED)

    @extend_schema(request=SessionUpdateSerializer, responses={200: SessionSerializer})
    def update(self, request, *args, **kwargs):
        session = self.get_object()
        data = SessionUpdateSerializer(data=request.data, partial=kwargs.get("partial", False))
        data.is_valid(raise_exception=True)
        services.session_update(session=session, **data.validated_data)
        session = self.get_queryset().get(pk=session.pk)
        return Response(self._render([session], many=False))

    @extend_schema(request=SessionUpdateSerializer, responses={200: SessionSerializer})
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs):
        services.session_delete(session=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class DataOperationViewSet(
    DatalabAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Operations of one of the user's sessions: inputs are immutable, so PUT and PATCH are not allowed."""

    serializer_class = OperationSerializer
    pagination_class = SessionPagination
    http_method_names = ["get", "post", "delete", "head", "options"]

    def _session(self):
        if not hasattr(self, "_session_obj"):
            session = selectors.session_get(user=self.request.user, session_id=self.kwargs["session_pk"])
            if session is None:
                raise NotFound("Data session not found.")
            self._session_obj = session
        return self._session_obj

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DataOperation.objects.none()
        return selectors.operation_queryset(session=self._session())

    def _context(self, operations) -> dict:
        runs = {operation.run.pk: operation.run for operation in operations}
        base_url = self.request.build_absolute_uri("/").rstrip("/")
        urls = selectors.signed_product_urls(runs=list(runs.values()), base_url=base_url)
        return {**self.get_serializer_context(), "product_urls": urls}

    def list(self, request, *args, **kwargs):
        services.session_touch(session=self._session())
        page = list(self.paginate_queryset(self.get_queryset()))
        return self.get_paginated_response(OperationSerializer(page, many=True, context=self._context(page)).data)

    def retrieve(self, request, *args, **kwargs):
        operation = self.get_object()
        services.run_fail_if_abandoned(run=operation.run)
        return Response(OperationSerializer(operation, context=self._context([operation])).data)

    @extend_schema(request=OperationInputSerializer, responses={201: OperationSerializer})
    def create(self, request, *args, **kwargs):
        session = self._session()
        data = OperationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submitted = services.operation_submit(session=session, user=request.user, **data.validated_data)
        operation = self.get_queryset().get(pk=submitted.pk)
        body = OperationSerializer(operation, context=self._context([operation])).data
        return Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.operation_delete(operation=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=BulkDeleteSerializer, responses={200: BulkDeleteResultSerializer})
    @action(detail=False, methods=["post"])
    def bulk_delete(self, request, *args, **kwargs):
        session = self._session()
        data = BulkDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deleted = services.operations_bulk_delete(session=session, ids=data.validated_data["ids"])
        return Response({"deleted": deleted})


class AvailableOperationsView(DatalabAPIMixin, APIView):
    """Every available operation's wizard description, in menu order (the front-end preselects the first); an
    operation that needs something not configured here (the HR Diagram without a loaded catalogue) is left out."""

    @extend_schema(responses={200: OpenApiResponse(description="{operation name: wizard description}")})
    def get(self, request):
        return Response(
            {
                name: operation.wizard_description()
                for name, operation in registry().items()
                if operation.unavailable_reason() is None
            }
        )


class AnalysisView(DatalabAPIMixin, APIView):
    """Synchronous image analysis for the front-end's viewer: `wcs`, `raw-data`, `get-jpg`, `get-tif`,
    `source-catalog`, `line-profile` and `centroiding`."""

    throttle_classes = [AnalysisRateThrottle]

    def get_serializer(self, *args, **kwargs):
        """The browsable API's form: the action's own fields, or the fields every action takes."""
        serializer_class = analysis_request_serializer(self.kwargs.get("action_name", "")) or GetTifSerializer
        return serializer_class(*args, **kwargs)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="Analysis",
            serializers=list(request_schemas().values()),
            resource_type_field_name=None,
        ),
        responses={200: OpenApiResponse(description="The action's answer (an object, or a list for source-catalog)")},
        description="Actions: wcs, raw-data, get-jpg, get-tif, source-catalog, line-profile, centroiding. Every body "
        "names the image by `basename` and `source` (archive or datalab); see docs/datalab.md for each action's "
        "fields.",
    )
    def post(self, request, action_name: str):
        serializer_class = analysis_request_serializer(action_name)
        if serializer_class is None:
            raise NotFound(f"Analysis action '{action_name}' not found")
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        base_url = request.build_absolute_uri("/").rstrip("/")
        return Response(
            analysis_perform(user=request.user, action=action_name, data=data.validated_data, base_url=base_url)
        )


class FramePreviewView(APIView):
    """A preview picture of an archive frame without thumbnails, for the user the signed link names."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request, token: str):
        target = previews.preview_target(token)
        if target is None:
            raise Http404()
        version_id, user_id, size = target
        version = visible_stored_object(model=Version, object_id=version_id, user_id=user_id)
        if version is None:
            raise Http404()
        response = HttpResponse(previews.preview_jpeg(version=version, size=size), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class ProductFileView(APIView):
    """A stored product behind a signed, expiring link (the local product directory; S3 serves its own URLs)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request, token: str, filename: str):
        storage_key = read_link(token)
        if storage_key is None or storage_key.rsplit("/", 1)[-1] != filename:
            raise Http404()
        storage = product_storage()
        try:
            handle = storage.open(storage_key, "rb")
        except (FileNotFoundError, OSError):
            raise Http404() from None
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        response = FileResponse(handle, content_type=content_type, as_attachment=filename.endswith(".fits"))
        response["Cache-Control"] = "private, max-age=3600"
        return response
