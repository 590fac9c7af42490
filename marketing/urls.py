from __future__ import annotations

from django.urls import path

from marketing.views import home as views

app_name = "marketing"

urlpatterns = [path("", views.marketing_home, name="home")]
