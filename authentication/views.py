"""HTTP views of the authentication app: token login and revocation, the profile, the portal's user push, and the
login pages of the browsable API and the admin."""

import json
import logging

from django.contrib import admin
from django.contrib.auth.views import LoginView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from archive import portal
from archive.renderers import JSONRenderer
from authentication import services
from authentication.forms import BrowsableLoginForm
from authentication.models import AuthEvent
from authentication.permissions import IsPortalServer
from authentication.selectors import user_proposals
from authentication.serializers import (
    CredentialsSerializer,
    MessageSerializer,
    PortalProfilePushSerializer,
    ProfileSerializer,
    TokenSerializer,
)
from frames.aggregates import all_proposal_ids

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "Unable to log in with provided credentials."


class ObtainTokenView(APIView):
    """Exchange a username and password (archive or observation-portal account) for the archive's API token."""

    throttle_classes: list = []  # the login throttles apply instead (checked before any backend runs)
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]  # a browser posting a login form gets the token as JSON too
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_serializer(self, *args, **kwargs):
        """The credentials' shape, for OPTIONS."""
        return CredentialsSerializer(*args, **kwargs)

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(description="Missing fields, or credentials refused"),
            429: OpenApiResponse(description="Too many failed logins from this address or for this username"),
            503: OpenApiResponse(description="The observation portal cannot be reached"),
        },
        operation_id="api_token_auth",
    )
    def post(self, request):
        user = request.user
        if not user.is_authenticated:  # an authenticated caller gets its token whatever the body says
            serializer = CredentialsSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            user = services.login_authenticate(
                request=request._request,
                username=serializer.validated_data["username"],
                password=serializer.validated_data["password"],
                method=AuthEvent.Method.API_TOKEN_AUTH,
            )
            if user is None:
                raise ValidationError({"non_field_errors": [INVALID_CREDENTIALS]})
        token = services.token_obtain(user=user, request=request._request)
        return Response(TokenSerializer({"token": token.key}).data)


class RevokeTokenView(APIView):
    """Replace the caller's archive API token with a new one; the old key stops working at once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: MessageSerializer}, operation_id="revoke_token")
    def post(self, request):
        services.token_rotate(user=request.user, method=AuthEvent.Method.API_TOKEN_AUTH, request=request._request)
        return Response(MessageSerializer({"message": "API token revoked."}).data)


class ProfileView(APIView):
    """The caller's username, proposals and staff flag; an empty username when not logged in."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: ProfileSerializer}, operation_id="profile")
    def get(self, request):
        user = request.user
        if user.is_authenticated and user.is_superuser:  # every proposal with frames, without asking the portal
            proposals = [proposal for proposal in all_proposal_ids() if proposal]
        else:
            proposals = user_proposals(user=user)
        return Response(ProfileSerializer(user, context={"proposals": proposals}).data)


class PortalUserPushView(APIView):
    """The observation portal's push of one user's profile (`Authorization: Server <key>`)."""

    authentication_classes: list = []
    throttle_classes: list = []
    permission_classes = [IsPortalServer]
    # The portal sends JSON without a JSON content type: the raw body is read, never DRF's parsers.
    parser_classes: list = []

    def get_serializer(self, *args, **kwargs):
        """The body's shape, for OPTIONS (the push itself reads the raw body)."""
        return PortalProfilePushSerializer(*args, **kwargs)

    def check_permissions(self, request):
        # Before the key is compared: an address over its rate of refused keys learns nothing more about the key.
        services.push_throttle_check(request=request._request)
        super().check_permissions(request)

    def permission_denied(self, request, message=None, code=None):
        services.push_refusal_record(request=request._request)
        super().permission_denied(request, message=message, code=code)

    @extend_schema(
        request=PortalProfilePushSerializer,
        responses={
            200: MessageSerializer,
            400: OpenApiResponse(description="Not a JSON object of the portal's profile shape"),
            403: OpenApiResponse(description="Missing or wrong server key, or the push is not configured"),
            409: OpenApiResponse(description="The username belongs to a local account of the archive"),
            429: OpenApiResponse(description="Too many refused server keys from this address"),
        },
        auth=[{"serverKey": []}],
        operation_id="authprofile_addupdateuser",
    )
    def post(self, request):
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ParseError("The body must be UTF-8 JSON.") from None
        try:
            data = portal.parse_profile(body)
        except portal.MalformedProfile as exc:
            raise ValidationError({"detail": str(exc)}) from None
        services.user_push_apply(data=data, request=request._request)
        return Response(MessageSerializer({"message": "User account updated"}).data)


def _with_failure_status(response, form):
    """A login form refused for a throttle or a portal outage answers 429 or 503 rather than 200."""
    status = getattr(form, "status_code", 200)
    if status != 200:
        response.status_code = status
        if form.retry_after:
            response["Retry-After"] = str(form.retry_after)
    return response


class BrowsableLoginView(LoginView):
    """The browsable API's login page (the project's branded template)."""

    template_name = "rest_framework/login.html"
    authentication_form = BrowsableLoginForm

    def form_invalid(self, form):
        return _with_failure_status(super().form_invalid(form), form)


def admin_login(request, extra_context=None):
    """The admin's login page, with the statuses of the other login pages (its form is set in admin.py)."""
    response = admin.site.login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    return _with_failure_status(response, form) if form is not None else response
