"""The VO endpoints: SIA 2.0 and Simple Cone Search queries, DataLink, their VOSI documents. Every error of a query
is a VOTable (DALI: QUERY_STATUS ERROR with the fault's text), so that pyvo and TOPCAT show the message."""

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from archive.dbtimeout import is_query_canceled
from archive.exceptions import ServiceUnavailable
from authentication.backends import ThrottledBasicAuthentication
from frames.links import DownloadLinks
from vo import datalink, descriptors, obscore, selectors, vosi, votable
from vo.params import UsageFault, maxrec, number, parameters, response_format, sia_query, single

logger = logging.getLogger(__name__)

SIA_CONTENT_TYPE = "application/x-votable+xml"
SCS_CONTENT_TYPE = "text/xml;content=x-votable"
DATALINK_CONTENT_TYPE = "application/x-votable+xml;content=datalink"
BASIC_CHALLENGE = 'Basic realm="archive"'

# The cone search's columns by VERB: the SCS UCD1 values pyvo's SCSRecord looks up, then ObsCore's.
SCS_KEY_COLUMNS = (
    obscore.Column("id", "char", "ID_MAIN", "The frame's basename"),
    obscore.Column("ra", "double", "POS_EQ_RA_MAIN", "RA of the footprint's centre (ICRS)", unit="deg"),
    obscore.Column("dec", "double", "POS_EQ_DEC_MAIN", "Dec of the footprint's centre (ICRS)", unit="deg"),
    obscore.COLUMNS_BY_NAME["access_url"],
)
SCS_VERB2 = [
    "obs_publisher_did",
    "target_name",
    "observation_date",
    "t_min",
    "t_exptime",
    "filter",
    "instrument_name",
    "facility_name",
    "calib_level",
    "access_format",
    "access_estsize",
    "s_fov",
    "s_region",
    "dataproduct_type",
]


def scs_columns(verb: int) -> list[obscore.Column]:
    columns = list(SCS_KEY_COLUMNS)
    if verb >= 2:
        columns += [obscore.COLUMNS_BY_NAME[name] for name in SCS_VERB2]
    if verb >= 3:
        taken = {column.name for column in columns} | {"obs_id", "s_ra", "s_dec"}
        columns += [column for column in obscore.COLUMNS if column.name not in taken]
    return columns


class GetOnlySessionAuthentication(SessionAuthentication):
    """The session cookie for GETs only: a POST with nothing but a cookie is anonymous and needs no CSRF token."""

    def authenticate(self, request):
        if request.method not in ("GET", "HEAD"):
            return None
        return super().authenticate(request)


def vo_authentication_classes() -> list[type]:
    """The project's classes (session for GETs only), then HTTP Basic when VO_BASIC_AUTH is on."""
    classes = [
        GetOnlySessionAuthentication if issubclass(cls, SessionAuthentication) else cls
        for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES
    ]
    if settings.VO_BASIC_AUTH and ThrottledBasicAuthentication not in classes:
        classes.append(ThrottledBasicAuthentication)
    return classes


def _challenge() -> str:
    return "Token, Bearer" + (f", {BASIC_CHALLENGE}" if settings.VO_BASIC_AUTH else "")


@extend_schema(exclude=True)  # VO protocols, described by their VOSI capabilities and docs/vo.md, not OpenAPI
class VOQueryView(APIView):
    """Authentication and throttles as the rest of the API; every failure answered as a VOTable error."""

    scs = False
    content_type = SIA_CONTENT_TYPE

    def get_authenticators(self):
        return [cls() for cls in vo_authentication_classes()]

    def perform_content_negotiation(self, request, force=False):
        # The answer is always a VOTable: an Accept header never makes it a 406.
        return JSONRenderer(), JSONRenderer.media_type

    def params(self, request) -> dict[str, list[str]]:
        sources = [request._request.GET]
        if request.method == "POST":
            sources.append(request._request.POST)
        return parameters(*sources)

    def error_response(self, status: int, message: str) -> HttpResponse:
        return HttpResponse(votable.error(message, scs=self.scs), status=status, content_type=self.content_type)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        response = self._error_for(exc)
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response

    def _error_for(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, UsageFault):
            return self.error_response(400, f"UsageFault: {exc}")
        if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
            response = self.error_response(401, f"UsageFault: {exc.detail}")
            response["WWW-Authenticate"] = _challenge()
            return response
        if isinstance(exc, exceptions.Throttled):
            wait = int(exc.wait or 1)
            response = self.error_response(429, f"TransientFault: request was throttled; retry in {wait} s")
            response["Retry-After"] = str(wait)
            return response
        if isinstance(exc, exceptions.MethodNotAllowed):
            response = self.error_response(405, f"UsageFault: {exc.detail} Use GET or POST.")
            response["Allow"] = ", ".join(self.allowed_methods)
            return response
        if isinstance(exc, ServiceUnavailable):
            response = self.error_response(503, f"TransientFault: {exc.detail}")
            if exc.retry_after:
                response["Retry-After"] = str(exc.retry_after)
            return response
        if isinstance(exc, OperationalError) and is_query_canceled(exc):
            seconds = settings.VO_QUERY_TIMEOUT_MS / 1000
            logger.warning("VO query canceled by the statement timeout: %s", exc)
            message = f"TransientFault: the query took longer than {seconds:g} s; narrow the query (POS, TIME)"
            return self.error_response(503, message)
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("VO query: database unavailable: %s", exc)
            return self.error_response(503, "TransientFault: the database cannot be reached; try again later")
        if isinstance(exc, DatabaseError):
            # A value PostgreSQL refused that the parsers let through: the caller's input, not an outage.
            logger.warning("VO query refused by the database: %s", exc)
            return self.error_response(400, "UsageFault: the database refused a parameter value")
        if isinstance(exc, RequestDataTooBig | SuspiciousOperation):
            return self.error_response(400, f"UsageFault: {exc}")
        if isinstance(exc, exceptions.APIException):
            status = exc.status_code if 400 <= exc.status_code < 600 else 400
            fault = "UsageFault" if status < 500 else "TransientFault"
            return self.error_response(status, f"{fault}: {exc.detail}")
        logger.exception("VO query failed")
        return self.error_response(500, "FatalFault: the service failed; the error was logged")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        user = getattr(request, "_user", None)
        if user is not None and user.is_authenticated:
            response["X-VO-Authenticated"] = user.get_username()
        patch_vary_headers(response, ("Authorization", "Cookie"))
        return response

    @classmethod
    def payload_too_large(cls, message: str) -> HttpResponse:
        """What archive.middleware answers for a body over the limit, before this view runs."""
        return HttpResponse(
            votable.error(f"UsageFault: {message}", scs=cls.scs), status=413, content_type=cls.content_type
        )

    def _context(self, request) -> obscore.Context:
        links = DownloadLinks(request)
        return obscore.Context(
            now=timezone.now(),
            bands=obscore.filter_bands(),
            calib=obscore.calib_levels(),
            url=lambda row: links.version_url(row, row.version),
        )

    def _stream(self, chunks: Iterable[str], content_type: str) -> StreamingHttpResponse:
        return StreamingHttpResponse(chunks, content_type=content_type)


def _status(overflow: bool, limit: int) -> str:
    return "OVERFLOW" if overflow or limit == 0 else "OK"


def _rows(rows: list[obscore.FrameRow], context: obscore.Context, columns: list[str]) -> Iterator[list[Any]]:
    for row in rows:
        values = obscore.cells(row, context)
        yield [values[name] for name in columns]


class SiaQueryView(VOQueryView):
    def get(self, request):
        params = self.params(request)
        media = response_format(single(params, "RESPONSEFORMAT"))
        limit = maxrec(single(params, "MAXREC"), default=settings.VO_DEFAULT_MAXREC, largest=settings.VO_MAX_MAXREC)
        query = sia_query(params, max_radius=settings.VO_MAX_RADIUS_DEGREES)
        rows, overflow = selectors.sia_frames(user=request.user, query=query, maxrec=limit) if limit else ([], True)
        context = self._context(request)
        names = [column.name for column in obscore.COLUMNS]
        chunks = votable.table(
            obscore.COLUMNS,
            _rows(rows, context, names),
            status=_status(overflow, limit),
            infos=[("standardID", vosi.SIA_STANDARD_ID)],
            descriptors=[
                descriptors.sia_self(request.build_absolute_uri(reverse("vo:sia-query"))),
                descriptors.datalink(request.build_absolute_uri(reverse("vo:datalink"))),
            ],
        )
        return self._stream(chunks, media or SIA_CONTENT_TYPE)

    post = get


class ConeSearchView(VOQueryView):
    scs = True
    content_type = SCS_CONTENT_TYPE

    def get(self, request):
        params = self.params(request)
        values = {}
        for name in ("RA", "DEC", "SR"):
            text = single(params, name)
            if text is None:
                raise UsageFault(f"{name} is required (RA, DEC and SR in decimal degrees)")
            values[name] = number(text, name)
        ra, dec, radius = values["RA"], values["DEC"], values["SR"]
        if not 0 <= ra <= 360:
            raise UsageFault(f"RA {ra:g} is outside [0, 360]")
        if not -90 <= dec <= 90:
            raise UsageFault(f"DEC {dec:g} is outside [-90, 90]")
        largest = settings.VO_MAX_RADIUS_DEGREES
        if not 0 <= radius <= largest:
            raise UsageFault(f"SR {radius:g} is outside [0, {largest:g}] degrees")
        verb_text = single(params, "VERB")
        if verb_text is not None and verb_text.strip() not in ("1", "2", "3"):
            raise UsageFault(f"VERB must be 1, 2 or 3, got {verb_text.strip()!r}")
        verb = int(verb_text) if verb_text is not None else 2
        limit = maxrec(single(params, "MAXREC"), default=settings.VO_DEFAULT_MAXREC, largest=settings.VO_MAX_MAXREC)
        if radius == 0 or limit == 0:
            rows, overflow = [], limit == 0
        else:
            rows, overflow = selectors.cone_frames(user=request.user, ra=ra, dec=dec, radius=radius, maxrec=limit)
        columns = scs_columns(verb)
        names = [
            "obs_id" if c.name == "id" else "s_ra" if c.name == "ra" else "s_dec" if c.name == "dec" else c.name
            for c in columns
        ]
        chunks = votable.table(
            columns,
            _rows(rows, self._context(request), names),
            status="OVERFLOW" if overflow else "OK",
            coosys=False,
        )
        return self._stream(chunks, SCS_CONTENT_TYPE)

    post = get


class DatalinkView(VOQueryView):
    content_type = DATALINK_CONTENT_TYPE

    def get(self, request):
        params = self.params(request)
        response_format(single(params, "RESPONSEFORMAT"))
        identifiers = params.get("ID", [])
        if not identifiers:
            raise UsageFault("ID is required: the obs_publisher_did of a frame")
        if len(identifiers) > settings.VO_MAX_MAXREC:
            raise UsageFault(f"at most {settings.VO_MAX_MAXREC} ID values a request, got {len(identifiers)}")
        basenames = [basename.upper() for value in identifiers if (basename := obscore.basename_of_did(value))]
        frames, related = selectors.datalink_frames(user=request.user, basenames=basenames)
        links = DownloadLinks(request)
        headers_pattern = request.build_absolute_uri(reverse("frames:frame-headers", kwargs={"pk": 0}))
        rows = datalink.link_rows(
            identifiers,
            frames,
            related,
            basename_of=obscore.basename_of_did,
            version_url=links.version_url,
            thumbnail_url=links.thumbnail_url,
            headers_url=lambda frame: headers_pattern.replace("/0/", f"/{frame.id}/"),
        )
        chunks = votable.table(datalink.COLUMNS, rows, status="OK", coosys=False)
        return self._stream(chunks, DATALINK_CONTENT_TYPE)

    post = get


# --- VOSI ------------------------------------------------------------------------------------------------------------

SERVICES = {"sia": ("vo:sia-query", "/vo/sia2"), "scs": ("vo:scs-query", "/vo/scs"), "datalink": ("vo:datalink", "")}


def _xml(body: str, *, challenge: bool = False) -> HttpResponse:
    response = HttpResponse(body, content_type="text/xml")
    if challenge and settings.VO_BASIC_AUTH:
        response["WWW-Authenticate"] = BASIC_CHALLENGE
    return response


def _service_base(request: HttpRequest) -> str:
    return request.build_absolute_uri(request.path.rsplit("/", 1)[0])


@require_http_methods(["GET", "HEAD"])
def capabilities(request: HttpRequest, kind: str) -> HttpResponseBase:
    query_url = request.build_absolute_uri(reverse(SERVICES[kind][0]))
    position = None
    if kind == "scs":
        try:
            position = selectors.example_position()
        except DatabaseError:
            logger.warning("VO capabilities: no test position, the database did not answer")
    document = vosi.capabilities(kind=kind, base=_service_base(request), query_url=query_url, test_position=position)
    return _xml(document, challenge=True)


@require_http_methods(["GET", "HEAD"])
def availability(request: HttpRequest, kind: str) -> HttpResponseBase:
    try:
        available = selectors.database_available()
        note = "accepting queries" if available else "the database did not answer"
    except DatabaseError as exc:
        logger.warning("VO availability: database unavailable: %s", exc)
        available, note = False, "the database cannot be reached"
    return _xml(vosi.availability(available=available, note=f"{note} ({timezone.now():%Y-%m-%dT%H:%M:%S}Z)"))


@require_http_methods(["GET", "HEAD"])
def index(request: HttpRequest) -> HttpResponse:
    """A short HTML page naming the service URLs."""
    items = "".join(
        f'<li>{label}: <a href="{url}">{url}</a></li>'
        for label, url in (
            ("SIA 2.0 (pyvo.dal.SIA2Service, TOPCAT's SIA Query)", request.build_absolute_uri(reverse("vo:sia-query"))),
            (
                "Simple Cone Search (pyvo.dal.SCSService, TOPCAT's Cone Search)",
                request.build_absolute_uri(reverse("vo:scs-query")),
            ),
            ("DataLink", request.build_absolute_uri(reverse("vo:datalink"))),
        )
    )
    return HttpResponse(f"<!DOCTYPE html><title>Virtual Observatory services</title><ul>{items}</ul>")
