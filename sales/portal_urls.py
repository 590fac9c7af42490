"""Sales' pages in the owners' portal (namespace "sales_portal"), at /portal/sales/."""

from __future__ import annotations

from django.urls import path

from sales import views_portal, views_portal_opening

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
    # Online selection on opening day (在线选房): keyed by the buyer's entry.
    path("opening/", views_portal_opening.opening_sessions, name="opening-sessions"),
    path(
        "opening/<int:pk>/",
        views_portal_opening.opening_session,
        name="opening-session",
    ),
    path(
        "opening/<int:pk>/units/<int:unit>/",
        views_portal_opening.opening_choose,
        name="opening-choose",
    ),
    path(
        "opening/<int:pk>/selections/<int:selection>/",
        views_portal_opening.opening_selection,
        name="opening-selection",
    ),
    path(
        "opening/<int:pk>/live/",
        views_portal_opening.opening_live,
        name="opening-live",
    ),
]
