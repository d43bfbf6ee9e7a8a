"""Who may use the downtimes API: reads for all, the write modes, HTTP Basic, and the throttle scope."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from archive.network import client_address
from authentication.backends import ThrottledBasicAuthentication

STAFF_ONLY_MESSAGE = "Only staff may create, change or delete downtimes."
CREATOR_OR_STAFF_MESSAGE = "Only staff, superusers and the user who created this downtime may change it."


def is_downtime_staff(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


class DowntimeWritePermission(BasePermission):
    """Reads are open (the scheduler and the portal read anonymously); writes follow DOWNTIMES_WRITE_ACCESS.

    `authenticated`: any user creates and deletes (the downtime service 2.4.4); `own` (default): any user creates,
    the creator or staff change and delete; `staff`: staff only. Edits are always creator-or-staff.
    """

    message = CREATOR_OR_STAFF_MESSAGE

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 with the first authentication class's challenge
        if settings.DOWNTIMES_WRITE_ACCESS == "staff" and not is_downtime_staff(user):
            self.message = STAFF_ONLY_MESSAGE
            return False
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS or is_downtime_staff(request.user):
            return True
        if request.method == "DELETE" and settings.DOWNTIMES_WRITE_ACCESS == "authenticated":
            return True
        return obj.created_by_id is not None and obj.created_by_id == request.user.pk


class IsDowntimeStaff(BasePermission):
    """The audit trail is for staff (is_staff or is_superuser)."""

    def has_permission(self, request, view) -> bool:
        return is_downtime_staff(request.user)


def downtime_authenticators() -> list:
    """The project's authentication classes, then HTTP Basic when DOWNTIMES_BASIC_AUTH is on.

    Basic comes last: the first class's challenge (`Token`) stays the one 401s carry, so browsers never prompt.
    The defaults are read at request time, so classes the project adds to them apply here too.
    """
    classes = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    if settings.DOWNTIMES_BASIC_AUTH and ThrottledBasicAuthentication not in classes:
        classes.append(ThrottledBasicAuthentication)
    return [auth() for auth in classes]


class DowntimesRateThrottle(SimpleRateThrottle):
    """The `downtimes` scope, per user id or client address, staff exempt; it replaces the project's daily rates
    here, because a 429 makes the scheduler plan as if no telescope were down."""

    scope = "downtimes"

    def get_rate(self) -> str | None:
        return settings.THROTTLE_DOWNTIMES_RATE or None

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if is_downtime_staff(user):
                return None
            ident = f"user-{user.pk}"
        else:
            ident = f"address-{client_address(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
