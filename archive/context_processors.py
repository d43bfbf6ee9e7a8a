"""Template context shared by every page: the deployment's branding."""

from django.conf import settings
from django.http import HttpRequest


def branding(request: HttpRequest) -> dict[str, str]:
    return {
        "navbar_title_text": settings.NAVBAR_TITLE_TEXT,
        "navbar_title_url": settings.NAVBAR_TITLE_URL,
        "terms_of_service_url": settings.TERMS_OF_SERVICE_URL,
        "documentation_url": settings.DOCUMENTATION_URL,
        "logo_url": settings.LOGO_URL,
    }
