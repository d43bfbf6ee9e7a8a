"""URLs of the datalab, at the paths the datalab front-end calls."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from datalab import views

app_name = "datalab"


class OptionalSlashRouter(SimpleRouter):
    """The front-end deletes a session without the trailing slash; every other call has it."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("datasessions", views.DataSessionViewSet, basename="datasession")
router.register(r"datasessions/(?P<session_pk>[^/.]+)/operations", views.DataOperationViewSet, basename="dataoperation")

api_patterns = [
    path("available_operations/", views.AvailableOperationsView.as_view(), name="available-operations"),
    path("analysis/<str:action_name>/", views.AnalysisView.as_view(), name="analysis"),
    *router.urls,
]

urlpatterns = [
    path("api/", include(api_patterns)),
    path("datalab/files/<str:token>/<str:filename>", views.ProductFileView.as_view(), name="product-file"),
    path("datalab/previews/<str:token>.jpg", views.FramePreviewView.as_view(), name="frame-preview"),
]
