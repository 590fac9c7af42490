from __future__ import annotations

from django.urls import path

from sales import views

app_name = "sales"

urlpatterns = [
    path("", views.sales_home, name="home"),
    path("buildings/new/", views.building_create, name="building-create"),
    path("buildings/<int:pk>/", views.building_grid, name="building-grid"),
    path(
        "buildings/<int:pk>/cells/",
        views.building_grid_cells,
        name="building-grid-cells",
    ),
    path("units/<int:pk>/", views.unit_detail, name="unit-detail"),
    path("units/<int:pk>/reserve/", views.unit_reserve, name="unit-reserve"),
    path("deals/", views.opportunity_list, name="opportunity-list"),
    path("deals/board/", views.opportunity_board, name="opportunity-board"),
    path("deals/<int:pk>/", views.opportunity_detail, name="opportunity-detail"),
    path("deals/<int:pk>/move/", views.opportunity_move, name="opportunity-move"),
    path("deals/<int:pk>/release/", views.hold_release, name="hold-release"),
    path(
        "deals/<int:pk>/subscribe/",
        views.opportunity_subscribe,
        name="opportunity-subscribe",
    ),
    path(
        "customers/<int:customer_pk>/open-deal/",
        views.opportunity_open,
        name="opportunity-open",
    ),
]
