"""Request bodies bounded before they are read: one size limit for every endpoint but the uploads."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve

# Views that take files and check their own, larger limit (FRAME_UPLOAD_MAX_BYTES) from the Content-Length.
UPLOAD_VIEWS = {"frames:frame-upload"}


class RequestBodyLimitMiddleware:
    """Answer 413 with a JSON message when the declared body is over REQUEST_BODY_MAX_BYTES, without reading it.

    Django itself only notices an oversized body while reading it (for forms and multipart, at
    DATA_UPLOAD_MAX_MEMORY_SIZE), and then answers with an HTML 400 page; DRF's JSON parser reads the whole stream
    first. Deciding on the Content-Length header bounds every parser path at once, before authentication (which may
    read the body: the web client sends its token in the form) and before throttling.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return JsonResponse({"detail": "The Content-Length header is not a number."}, status=400)
            limit = settings.REQUEST_BODY_MAX_BYTES
            if length > limit and not self._is_upload(request.path_info):
                message = f"The request body is {length} bytes; at most {limit} bytes are accepted here."
                # A view that answers errors in a format of its own (the VO services' VOTables) says how.
                refuse = getattr(getattr(self._view(request.path_info), "view_class", None), "payload_too_large", None)
                if refuse is not None:
                    return refuse(message)
                return JsonResponse({"detail": message}, status=413)
        return self.get_response(request)

    @staticmethod
    def _view(path: str) -> Callable[..., HttpResponseBase] | None:
        try:
            return resolve(path).func
        except Resolver404:
            return None

    @staticmethod
    def _is_upload(path: str) -> bool:
        try:
            return resolve(path).view_name in UPLOAD_VIEWS
        except Resolver404:
            return False
