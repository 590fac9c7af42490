"""Service's part of a customer merge: requests, handover appointments, surveys and
letters to the general manager follow the surviving customer, and go back on undo. None is unique per customer, so
every row simply moves."""

from __future__ import annotations

from customers.signals import follow_merges, moved


def connect() -> None:
    follow_merges(
        "service",
        [
            moved("service.servicerequest.customer"),
            moved("service.handoverappointment.customer"),
            moved("service.surveyinvitation.customer"),
            moved("service.surveyresponse.customer"),
            moved("service.ownerletter.customer"),
        ],
    )
