"""Sales' pages in the owners' portal (namespace "sales_portal"), at /portal/sales/."""

from __future__ import annotations

from django.urls import path

from sales import views_portal

app_name = "sales_portal"

urlpatterns = [
    path("homes/", views_portal.homes, name="homes"),
    path("homes/<int:pk>/", views_portal.home_detail, name="home-detail"),
    path("payments/", views_portal.payments, name="payments"),
    path(
        "deals/<int:pk>/documents/<str:document>/",
        views_portal.document,
        name="document",
    ),
]
