"""URLs of the frames app, at the paths the OCS science archive serves them."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from frames import fileviews, views
from frames.searchpage import search_page, wants_page

app_name = "frames"

router = DefaultRouter()
router.register("frames", views.FrameViewSet, basename="frame")
router.register("versions", views.VersionViewSet, basename="version")
router.register("thumbnails", views.ThumbnailViewSet, basename="thumbnail")

api_root = router.get_api_root_view()


def home(request, *args, **kwargs):
    """The search page for browsers; the API root (JSON, or `?format=api`) for everyone else."""
    if wants_page(request):
        return search_page(request)
    return api_root(request, *args, **kwargs)


urlpatterns = [
    path("", home, name="home"),
    path("download/<str:token>/<str:filename>", fileviews.LocalDownloadView.as_view(), name="download"),
    path("frame-funpack/<str:pk>/funpack/", fileviews.FunpackView.as_view(), name="funpack"),
    path("frame-catalog/<str:pk>/catalog/", fileviews.CatalogView.as_view(), name="catalog"),
    *router.urls,
]
