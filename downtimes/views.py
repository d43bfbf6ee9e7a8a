"""HTTP views of the downtimes app: the API the scheduler and the portal speak, its exports, and the web page."""

import logging

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.metadata import SimpleMetadata
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from archive.network import client_address
from archive.renderers import JSONRenderer
from downtimes import pages, selectors, services
from downtimes.filters import DowntimeEventFilter, DowntimeFilter
from downtimes.models import CODE_FIELDS, Downtime, DowntimeEvent
from downtimes.pagination import DowntimePagination
from downtimes.permissions import (
    DowntimesRateThrottle,
    DowntimeWritePermission,
    IsDowntimeStaff,
    downtime_authenticators,
    is_downtime_staff,
)
from downtimes.renderers import CSVRenderer, ICalendarRenderer
from downtimes.serializers import DowntimeEventSerializer, DowntimeSerializer

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "ics")
VIA_API = DowntimeEvent.Via.API


class DowntimeMetadata(SimpleMetadata):
    """OPTIONS never asks configdb: code choices are listed only when a copy of its topology is already cached."""

    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        topology = selectors.downtime_topology(cached_only=True)
        if topology is not None:
            for fields in metadata.get("actions", {}).values():
                for code in CODE_FIELDS:
                    if code in fields:
                        fields[code]["choices"] = [
                            {"value": value, "display_name": value} for value in sorted(topology.codes(code))
                        ]
        return metadata


ERRORS_400 = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description='Field errors `{"<field>": ["<message>"]}` or `{"non_field_errors": ["<message>"]}`',
)
DETAIL_ERROR = inline_serializer(name="DowntimeErrorDetail", fields={"detail": serializers.CharField()})
ERR_401 = OpenApiResponse(DETAIL_ERROR, description="No or invalid credentials (`WWW-Authenticate: Token`)")
ERR_403 = OpenApiResponse(DETAIL_ERROR, description="Not allowed to change this downtime (DOWNTIMES_WRITE_ACCESS)")
ERR_404 = OpenApiResponse(DETAIL_ERROR, description="No such downtime (or it does not match the query filters)")
ERR_503 = OpenApiResponse(
    DETAIL_ERROR, description="configdb is needed, cannot be reached and nothing is cached (`Retry-After: 60`)"
)
EXPORT_DESCRIPTION = (
    "`?format=csv` or `?format=ics` (or `Accept: text/csv` / `text/calendar`) exports what the filters select: the "
    "whole list without `limit`/`offset` (at most DOWNTIMES_EXPORT_MAX_ROWS rows, else 400), that page with them. "
    "The calendar defaults to downtimes that ended at most DOWNTIMES_ICS_PAST_DAYS days ago, or later."
)
FORMAT_PARAMETER = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=["json", "api", "csv", "ics"], description="Response format"
)
WRITE_RESPONSES = {400: ERRORS_400, 401: ERR_401, 403: ERR_403, 503: ERR_503}


@extend_schema_view(
    list=extend_schema(
        summary="List downtimes",
        description=EXPORT_DESCRIPTION,
        parameters=[FORMAT_PARAMETER],
        responses={
            (200, "application/json"): DowntimeSerializer(many=True),
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "text/calendar"): OpenApiTypes.STR,
            400: ERRORS_400,
        },
    ),
    retrieve=extend_schema(
        summary="One downtime",
        parameters=[FORMAT_PARAMETER],
        responses={
            (200, "application/json"): DowntimeSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "text/calendar"): OpenApiTypes.STR,
            404: ERR_404,
        },
    ),
    create=extend_schema(
        summary="Create a downtime",
        description="Codes are checked against configdb's /sites/ (exact, case-sensitive). 201 with `Location`.",
        responses={201: DowntimeSerializer, **WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary="Replace a downtime",
        description="Requires the POST fields; an omitted `instrument_type` or `reason` keeps its value.",
        responses={200: DowntimeSerializer, 404: ERR_404, **WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a downtime",
        responses={200: DowntimeSerializer, 404: ERR_404, **WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a downtime",
        responses={204: None, 401: ERR_401, 403: ERR_403, 404: ERR_404},
    ),
)
class DowntimeViewSet(viewsets.ModelViewSet):
    """Telescope downtimes, as the downtime service's `/api/` serves them, plus edits, exports and the audit trail."""

    serializer_class = DowntimeSerializer
    pagination_class = DowntimePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = DowntimeFilter
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer, ICalendarRenderer]
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    permission_classes = [DowntimeWritePermission]
    throttle_classes = [DowntimesRateThrottle]
    metadata_class = DowntimeMetadata

    def get_authenticators(self):
        return downtime_authenticators()

    def get_queryset(self):
        if self.action == "history":
            return selectors.downtime_events()
        return Downtime.objects.all()

    def finalize_response(self, request, response, *args, **kwargs):
        # CSV and iCalendar clients get their errors in JSON: an error is not a spreadsheet row or a calendar event.
        renderer = getattr(request, "accepted_renderer", None)
        if response.status_code >= 400 and renderer is not None and renderer.format in EXPORT_FORMATS:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def _export_format(self) -> str | None:
        fmt = self.request.accepted_renderer.format
        return fmt if fmt in EXPORT_FORMATS else None

    def _one(self, downtime: Downtime):
        """What a detail, a create or an update answers: the iCalendar renderer reads the Downtime itself, every
        other renderer the serialized object."""
        return downtime if self._export_format() == "ics" else self.get_serializer(downtime).data

    # --- reads --------------------------------------------------------------------------------------------------
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        export = self._export_format()
        if export == "ics":
            queryset = selectors.downtime_calendar_window(queryset=queryset, params=request.query_params)
        if export and "limit" not in request.query_params and "offset" not in request.query_params:
            rows = selectors.downtime_export_rows(queryset=queryset)
        else:
            rows = self.paginate_queryset(queryset)
        if export == "ics":
            return Response(rows)
        data = self.get_serializer(rows, many=True).data
        return Response(data) if export else self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        downtime = self.get_object()
        return Response(self._one(downtime))

    # --- writes -------------------------------------------------------------------------------------------------
    def create(self, request, *args, **kwargs):
        data, errors = self.get_serializer(data=request.data).parse()
        downtime = services.downtime_create(
            data=data, errors=errors, user=request.user, via=VIA_API, client_address=client_address(request)
        )
        location = request.build_absolute_uri(reverse("downtime-detail", kwargs={"pk": downtime.pk}))
        return Response(self._one(downtime), status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        downtime = self.get_object()
        serializer = self.get_serializer(downtime, data=request.data, partial=kwargs.pop("partial", False))
        data, errors = serializer.parse()
        downtime = services.downtime_update(
            downtime=downtime,
            data=data,
            errors=errors,
            user=request.user,
            via=VIA_API,
            client_address=client_address(request),
        )
        return Response(self._one(downtime))

    def destroy(self, request, *args, **kwargs):
        services.downtime_delete(
            downtime=self.get_object(), user=request.user, via=VIA_API, client_address=client_address(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- audit --------------------------------------------------------------------------------------------------
    @extend_schema(
        summary="Audit trail of downtime changes (staff)",
        responses={200: DowntimeEventSerializer(many=True), 401: ERR_401, 403: ERR_403},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="history",
        url_name="history",
        permission_classes=[IsDowntimeStaff],
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer],
        filterset_class=DowntimeEventFilter,
        serializer_class=DowntimeEventSerializer,
    )
    def history(self, request, *args, **kwargs):
        events = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(events, many=True).data)


class DowntimeListPage(View):
    """`/downtimes/`: the table of downtimes with the API's filters, 50 a page; by default those not yet ended."""

    template_name = "downtimes/downtime_list.html"

    def get(self, request, *args, **kwargs):
        throttle = DowntimesRateThrottle()
        if not throttle.allow_request(request, self):
            wait = int(throttle.wait() or 1)
            response = HttpResponse(
                f"Request was throttled. Expected available in {wait} seconds.", status=429, content_type="text/plain"
            )
            response["Retry-After"] = str(wait)
            return response
        now = timezone.now().replace(microsecond=0)
        page = pages.downtime_page(params=request.GET, now=now)
        try:
            page.select_page(request.GET.get("page"))
        except pages.PageNotFound:
            raise Http404("No such page of downtimes.") from None
        context = {
            "page": page,
            "now": now,
            "is_staff": is_downtime_staff(request.user),
        }
        return render(request, self.template_name, context, status=400 if page.errors else 200)
