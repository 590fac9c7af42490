from __future__ import annotations

from django.urls import path

from service.views import handover, surveys
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
    path("handovers/", handover.handover_list, name="handover-list"),
    path("handovers/new/", handover.handover_create, name="handover-create"),
    path("handovers/<int:pk>/", handover.handover_detail, name="handover-detail"),
    path(
        "handovers/<int:pk>/slots/",
        handover.handover_slot_add,
        name="handover-slot-add",
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
