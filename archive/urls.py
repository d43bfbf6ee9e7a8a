"""The archive's URL map (docs/architecture.md): the wire paths of the OCS projects, docs and operations."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from archive.health import health

urlpatterns = [
    path("", include("frames.urls")),
    path("downtimes/", include("downtimes.urls")),
    path("vo/", include("vo.urls")),
    path("", include("datalab.urls")),
    # Before admin/: the app's login page replaces the admin's own at admin/login/.
    path("", include("authentication.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("openapi/", SpectacularAPIView.as_view(), name="openapi"),
    path("redoc/", SpectacularRedocView.as_view(url_name="openapi"), name="redoc"),
]
