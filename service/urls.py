from __future__ import annotations

from django.urls import path

from service.views import requests as views

app_name = "service"

urlpatterns = [
    path("", views.service_home, name="home"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_create, name="request-create"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/assign/", views.request_assign, name="request-assign"),
    path("requests/<int:pk>/start/", views.request_start, name="request-start"),
    path("requests/<int:pk>/resolve/", views.request_resolve, name="request-resolve"),
    path(
        "requests/<int:pk>/callback/", views.request_callback, name="request-callback"
    ),
    path("requests/<int:pk>/close/", views.request_close, name="request-close"),
]
