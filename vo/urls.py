"""The VO services under /vo/: exact paths without a trailing slash (a redirected POST would lose its body)."""

from django.urls import path

from vo import views

app_name = "vo"

urlpatterns = [
    path("", views.index, name="index"),
    path("sia2/query", views.SiaQueryView.as_view(), name="sia-query"),
    path("sia2/capabilities", views.capabilities, {"kind": "sia"}, name="sia-capabilities"),
    path("sia2/availability", views.availability, {"kind": "sia"}, name="sia-availability"),
    path("scs/query", views.ConeSearchView.as_view(), name="scs-query"),
    path("scs/", views.ConeSearchView.as_view(), name="scs-base"),
    path("scs/capabilities", views.capabilities, {"kind": "scs"}, name="scs-capabilities"),
    path("scs/availability", views.availability, {"kind": "scs"}, name="scs-availability"),
    path("datalink", views.DatalinkView.as_view(), name="datalink"),
    path("datalink/capabilities", views.capabilities, {"kind": "datalink"}, name="datalink-capabilities"),
    path("datalink/availability", views.availability, {"kind": "datalink"}, name="datalink-availability"),
]
