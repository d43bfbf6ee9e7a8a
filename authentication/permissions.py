"""Permissions of the authentication app: the observation portal's shared server key."""

import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission


class IsPortalServer(BasePermission):
    """`Authorization: Server <OAUTH_SERVER_KEY>`, compared in constant time; an empty configured key refuses all."""

    message = "Invalid or missing API Key."

    def has_permission(self, request, view):
        configured = settings.OAUTH_SERVER_KEY
        if not configured:
            return False
        keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if keyword.lower() != "server" or not key:
            return False
        # compare_digest on bytes: its time does not depend on where the strings differ.
        return hmac.compare_digest(key.encode("utf-8"), configured.encode("utf-8"))
