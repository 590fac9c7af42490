from __future__ import annotations

from django.urls import path

from service import views

app_name = "service"

urlpatterns = [path("", views.service_home, name="home")]
