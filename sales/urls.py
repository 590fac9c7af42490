from __future__ import annotations

from django.urls import path

from sales import views, views_deposits, views_insight, views_overview, views_sessions

app_name = "sales"

urlpatterns = [
    path("", views.sales_home, name="home"),
    path("today/", views.my_day, name="my-day"),
    path("buildings/new/", views.building_create, name="building-create"),
    path("units/import/", views.unit_import, name="unit-import"),
    path("buildings/<int:pk>/", views.building_grid, name="building-grid"),
    path(
        "buildings/<int:pk>/cells/",
        views.building_grid_cells,
        name="building-grid-cells",
    ),
    path("buildings/<int:pk>/prices/", views.price_plan, name="price-plan"),
    path("units/<int:pk>/", views.unit_detail, name="unit-detail"),
    path("units/<int:pk>/reserve/", views.unit_reserve, name="unit-reserve"),
    path("deals/", views.opportunity_list, name="opportunity-list"),
    path("visits/", views_overview.visit_list, name="visit-list"),
    path("receipts/", views_overview.receipt_list, name="receipt-list"),
    path("deals/board/", views.opportunity_board, name="opportunity-board"),
    path("deals/<int:pk>/", views.opportunity_detail, name="opportunity-detail"),
    path("deals/<int:pk>/move/", views.opportunity_move, name="opportunity-move"),
    path(
        "deals/<int:pk>/co-buyers/",
        views.opportunity_co_buyers,
        name="opportunity-co-buyers",
    ),
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
    path(
        "deals/<int:pk>/discount/",
        views.opportunity_discount,
        name="opportunity-discount",
    ),
    path(
        "deals/<int:pk>/contract/",
        views.opportunity_contract,
        name="opportunity-contract",
    ),
    path("deals/<int:pk>/plan/", views.payment_plan, name="payment-plan"),
    path("deals/<int:pk>/receipts/", views.receipt_create, name="receipt-create"),
    path(
        "deals/<int:pk>/print/<str:document>/",
        views.opportunity_print,
        name="opportunity-print",
    ),
    path("approvals/", views.approval_list, name="approval-list"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval-decide"),
    path("payments/overdue/", views.payments_overdue, name="payments-overdue"),
    path("dashboard/", views.sales_dashboard, name="dashboard"),
    path("insight/win-loss/", views_insight.win_loss, name="insight-win-loss"),
    path("insight/velocity/", views_insight.velocity, name="insight-velocity"),
    path("insight/cohorts/", views_insight.cohorts, name="insight-cohorts"),
    path(
        "deals/<int:pk>/changes/", views.deal_change_create, name="deal-change-create"
    ),
    path(
        "deals/<int:pk>/unit-options/",
        views.deal_unit_options,
        name="deal-unit-options",
    ),
    path(
        "changes/<int:pk>/decide/", views.deal_change_decide, name="deal-change-decide"
    ),
    path("pool/", views.pool_list, name="pool"),
    path("pool/<int:customer_pk>/claim/", views.pool_claim, name="pool-claim"),
    path(
        "registrations/<int:pk>/reassign/",
        views.registration_reassign,
        name="registration-reassign",
    ),
    path("projects/<int:pk>/rules/", views.project_rules, name="project-rules"),
    # Issue 16 (console): selection sessions, the on-site console and big screen.
    path(
        "projects/<int:pk>/sessions/", views_sessions.session_list, name="session-list"
    ),
    path(
        "projects/<int:pk>/sessions/new/",
        views_sessions.session_create,
        name="session-create",
    ),
    path("sessions/<int:pk>/", views_sessions.session_detail, name="session-detail"),
    path("sessions/<int:pk>/edit/", views_sessions.session_edit, name="session-edit"),
    path("sessions/<int:pk>/open/", views_sessions.session_open, name="session-open"),
    path("sessions/<int:pk>/call/", views_sessions.session_call, name="session-call"),
    path(
        "sessions/<int:pk>/console/",
        views_sessions.session_console,
        name="session-console",
    ),
    path(
        "sessions/<int:pk>/console/card/",
        views_sessions.session_console_card,
        name="session-console-card",
    ),
    path(
        "sessions/<int:pk>/select/",
        views_sessions.session_select,
        name="session-select",
    ),
    path(
        "sessions/<int:pk>/screen/",
        views_sessions.session_screen,
        name="session-screen",
    ),
    path(
        "sessions/<int:pk>/events/",
        views_sessions.session_events,
        name="session-events",
    ),
    path(
        "sessions/<int:pk>/close/", views_sessions.session_close, name="session-close"
    ),
    path(
        "sessions/<int:pk>/report/",
        views_sessions.session_report,
        name="session-report",
    ),
    path(
        "selections/<int:pk>/print/",
        views_sessions.selection_print,
        name="selection-print",
    ),
    # Opening day (issue 16): deposits of intent and the order of a session.
    path(
        "projects/<int:pk>/deposits/",
        views_deposits.deposit_list,
        name="deposit-list",
    ),
    path(
        "projects/<int:pk>/deposits/new/",
        views_deposits.deposit_take,
        name="deposit-take",
    ),
    path("deposits/<int:pk>/", views_deposits.deposit_detail, name="deposit-detail"),
    path(
        "deposits/<int:pk>/refund/",
        views_deposits.deposit_refund_request,
        name="deposit-refund-request",
    ),
    path(
        "deposits/<int:pk>/qualification/",
        views_deposits.deposit_qualify,
        name="deposit-qualify",
    ),
    path(
        "deposits/refunds/",
        views_deposits.deposit_refund_list,
        name="deposit-refund-list",
    ),
    path(
        "deposits/refunds/<int:pk>/decide/",
        views_deposits.deposit_refund_decide,
        name="deposit-refund-decide",
    ),
    path(
        "sessions/<int:pk>/order/",
        views_deposits.session_order,
        name="session-order",
    ),
    path(
        "sessions/<int:pk>/order/fill/",
        views_deposits.session_fill,
        name="session-fill",
    ),
    path(
        "sessions/<int:pk>/order/commit/",
        views_deposits.session_commit,
        name="session-commit",
    ),
    path(
        "sessions/<int:pk>/order/set/",
        views_deposits.session_order_set,
        name="session-order-set",
    ),
]

# The sale after contract (aftersale, issue 16).
from sales import views_aftersale  # noqa: E402

urlpatterns += [
    path(
        "projects/<int:pk>/aftersale-rules/",
        views_aftersale.project_aftersale_rules,
        name="project-aftersale-rules",
    ),
    path("commissions/", views_aftersale.commission_list, name="commission-list"),
    path(
        "commissions/<int:pk>/pay/",
        views_aftersale.commission_pay,
        name="commission-pay",
    ),
    path(
        "commissions/<int:pk>/waive/",
        views_aftersale.commission_waive,
        name="commission-waive",
    ),
    path("refunds/<int:pk>/pay/", views_aftersale.refund_pay, name="refund-pay"),
]
