"""The client's address, taking X-Forwarded-For only from the NUM_PROXIES trusted reverse proxies in front of us."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent `request`.

    With NUM_PROXIES = 0, X-Forwarded-For is ignored (anyone can send it). With N trusted proxies, each appends the
    address it received the request from, so the client is the N-th entry from the right; entries further left were
    written by the client itself and are never trusted.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return forwarded[0] if forwarded else remote
    return forwarded[-proxies]
