"""URLs of the downtimes app at /downtimes/: the page at its root, the API at api/ (the downtime service's /api/)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter
from rest_framework.urlpatterns import format_suffix_patterns

from downtimes import views

# An empty prefix puts the list at api/ itself, with the reference's suffixes api/.json and api/<id>.json; the
# DefaultRouter's root view would take that place, so a SimpleRouter it is.
router = SimpleRouter()
router.register("", views.DowntimeViewSet, basename="downtime")

urlpatterns = [
    path("", views.DowntimeListPage.as_view(), name="web-downtime-list"),
    path("api/", include(format_suffix_patterns(router.urls))),
]
