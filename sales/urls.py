from __future__ import annotations

from django.urls import path

from sales import views

app_name = "sales"

urlpatterns = [path("", views.sales_home, name="home")]
