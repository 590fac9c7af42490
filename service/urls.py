from __future__ import annotations

from django.urls import path

from service.views import dashboard as dashboard_views
from service.views import handover, insight, mailbox, surveys
from service.views import knowledge as knowledge_views
from service.views import requests as views
from service.views import work as work_views

app_name = "service"

urlpatterns = [
    path("", views.service_home, name="home"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_create, name="request-create"),
    path("requests/new/caller/", views.caller_lookup_view, name="caller-lookup"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path(
        "requests/<int:pk>/photos/",
        views.request_photos_add,
        name="request-photos-add",
    ),
    path(
        "requests/<int:pk>/photos/<int:photo_pk>/",
        views.request_photo,
        name="request-photo",
    ),
    path("requests/<int:pk>/accept/", views.request_accept, name="request-accept"),
    path("requests/<int:pk>/assign/", views.request_assign, name="request-assign"),
    path("requests/<int:pk>/start/", views.request_start, name="request-start"),
    path("requests/<int:pk>/resolve/", views.request_resolve, name="request-resolve"),
    path(
        "requests/<int:pk>/callback/", views.request_callback, name="request-callback"
    ),
    path("requests/<int:pk>/close/", views.request_close, name="request-close"),
    # Work orders and contractors (issue 6, item 5).
    path(
        "requests/<int:pk>/work-orders/",
        work_views.work_order_create,
        name="work-order-create",
    ),
    path(
        "requests/<int:pk>/articles/<int:article_pk>/",
        knowledge_views.article_use,
        name="article-use",
    ),
    path("work-orders/", work_views.work_order_list, name="work-order-list"),
    path(
        "work-orders/<int:pk>/schedule/",
        work_views.work_order_schedule,
        name="work-order-schedule",
    ),
    path(
        "work-orders/<int:pk>/sign-off/",
        work_views.work_order_sign_off,
        name="work-order-sign-off",
    ),
    path(
        "work-orders/<int:pk>/cancel/",
        work_views.work_order_cancel,
        name="work-order-cancel",
    ),
    path(
        "work-orders/<int:pk>/photo/",
        work_views.work_order_photo,
        name="work-order-photo",
    ),
    path("contractors/", work_views.contractor_list, name="contractor-list"),
    path("contractors/new/", work_views.contractor_create, name="contractor-create"),
    path(
        "contractors/<int:pk>/", work_views.contractor_detail, name="contractor-detail"
    ),
    path(
        "contractors/<int:pk>/edit/", work_views.contractor_edit, name="contractor-edit"
    ),
    path(
        "contractors/<int:pk>/chargebacks/",
        work_views.chargeback_create,
        name="chargeback-create",
    ),
    path(
        "chargebacks/<int:pk>/recovered/",
        work_views.chargeback_recover,
        name="chargeback-recover",
    ),
    # Knowledge base (item 6).
    path("knowledge/", knowledge_views.article_list, name="article-list"),
    path("knowledge/new/", knowledge_views.article_create, name="article-create"),
    path("knowledge/<int:pk>/", knowledge_views.article_detail, name="article-detail"),
    path("knowledge/<int:pk>/edit/", knowledge_views.article_edit, name="article-edit"),
    # The general manager's mailbox (issue 14, item 7).
    path("letters/", mailbox.letter_list, name="letter-list"),
    path("letters/<int:pk>/", mailbox.letter_detail, name="letter-detail"),
    path("letters/<int:pk>/answer/", mailbox.letter_answer, name="letter-answer"),
    # Dashboard (item 10).
    path("dashboard/", dashboard_views.service_dashboard, name="dashboard"),
    # Service insight (issue 17, item 3): read from the fact tables.
    path("insight/", insight.service_insight, name="insight"),
    path("insight/units/", insight.insight_units, name="insight-units"),
    path("handovers/", handover.handover_list, name="handover-list"),
    path("handovers/new/", handover.handover_create, name="handover-create"),
    path("handovers/<int:pk>/", handover.handover_detail, name="handover-detail"),
    path(
        "handovers/<int:pk>/slots/",
        handover.handover_slot_add,
        name="handover-slot-add",
    ),
    path(
        "handovers/<int:pk>/checklist/",
        handover.handover_checklist,
        name="handover-checklist",
    ),
    path(
        "handovers/<int:pk>/slots/<int:slot_pk>/",
        handover.handover_slot_change,
        name="handover-slot-change",
    ),
    path(
        "handovers/<int:pk>/invite/", handover.handover_invite, name="handover-invite"
    ),
    path("handovers/<int:pk>/close/", handover.handover_close, name="handover-close"),
    path(
        "handovers/appointments/<int:pk>/",
        handover.appointment_detail,
        name="handover-appointment",
    ),
    path(
        "handovers/appointments/<int:pk>/book/",
        handover.appointment_book,
        name="handover-book",
    ),
    path(
        "handovers/appointments/<int:pk>/inspection/",
        handover.inspection_start,
        name="inspection-start",
    ),
    path(
        "handovers/appointments/<int:pk>/inspection/save/",
        handover.inspection_save,
        name="inspection-save",
    ),
    path(
        "handovers/appointments/<int:pk>/inspection/defects/",
        handover.inspection_defects,
        name="inspection-defects",
    ),
    path(
        "handovers/appointments/<int:pk>/complete/",
        handover.handover_complete,
        name="handover-complete",
    ),
    path(
        "handovers/photos/<int:pk>/", handover.inspection_photo, name="inspection-photo"
    ),
    path(
        "handover/book/<str:token>/",
        handover.handover_booking,
        name="handover-booking",
    ),
    path("surveys/", surveys.survey_results, name="survey-results"),
    path("survey/thanks/", surveys.survey_thanks, name="survey-thanks"),
    path("survey/<str:token>/", surveys.survey_answer, name="survey-answer"),
]
