"""URLs of the frames app, at the paths the OCS science archive serves them."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from frames import fileviews, views

app_name = "frames"

router = DefaultRouter()
router.register("frames", views.FrameViewSet, basename="frame")
router.register("versions", views.VersionViewSet, basename="version")
router.register("thumbnails", views.ThumbnailViewSet, basename="thumbnail")

urlpatterns = [
    path("download/<str:token>/<str:filename>", fileviews.LocalDownloadView.as_view(), name="download"),
    path("frame-funpack/<str:pk>/funpack/", fileviews.FunpackView.as_view(), name="funpack"),
    path("frame-catalog/<str:pk>/catalog/", fileviews.CatalogView.as_view(), name="catalog"),
    *router.urls,
]
