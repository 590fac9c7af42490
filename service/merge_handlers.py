"""Service's part of a customer merge: requests, handover appointments and surveys
follow the surviving customer, and go back on undo."""

from __future__ import annotations

from customers.signals import follow_merges
from service.models import (
    HandoverAppointment,
    ServiceRequest,
    SurveyInvitation,
    SurveyResponse,
)

# What moves with the customer, under the key recorded in the merge record.
MOVED = {
    "service.servicerequest": ServiceRequest,
    "service.handoverappointment": HandoverAppointment,
    "service.surveyinvitation": SurveyInvitation,
    "service.surveyresponse": SurveyResponse,
}


def _rows(model):
    return lambda absorbed, survivor: model.objects.filter(customer=absorbed)


def connect() -> None:
    follow_merges(
        "service", [(key, _rows(model), "customer") for key, model in MOVED.items()]
    )
