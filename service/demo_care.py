"""Demo data for handover and satisfaction surveys (runs after the other demo steps).

A handover batch for the building with the most signed units: slots, booked owners,
inspections whose defects became repair requests, keys handed over; and half a year of
answered surveys across both demo projects, so the satisfaction page has a trend.
Safe to run twice: each part is skipped when its rows exist.
"""

from __future__ import annotations

import random
from datetime import time, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from crm_site.audit import unaudited
from crm_site.models import User
from sales.models import Building, Opportunity, Project, Unit
from service import handover, services, surveys
from service.models import (
    HandoverBatch,
    InspectionItem,
    ServiceRequest,
    SurveyInvitation,
    SurveyResponse,
)

BATCH_NAME = "首批集中交房"
MONTHS = 6
COMMENTS = [
    "维修师傅很专业，处理及时。",
    "客服态度很好，希望以后响应再快一点。",
    "问题解决了，但等了比较久。",
    "交房流程顺畅，工作人员耐心。",
    "公共区域绿化还没完成，希望尽快。",
    "",
    "",
]
DEFECT_NOTES = ["表面有划痕", "需修补", "安装不牢固", "有渗水痕迹", "功能异常"]


@transaction.atomic
@unaudited("demo data sets up and back-dates its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    agent, manager = users["service_agent"], users["service_manager"]
    _handover(rng, agent, manager)
    _survey_history(rng, agent)
    surveys.invitations_send_due()
    _answer_handover_surveys(rng)


def _answer_handover_surveys(rng: random.Random) -> None:
    """Most owners answer the survey sent a week after their handover."""
    sent = SurveyInvitation.objects.filter(
        appointment__isnull=False, status="sent", answered_at__isnull=True
    ).select_related("template")
    for invitation in list(sent)[:-1]:
        scores = {
            q.pk: min(5, max(1, round(rng.gauss(4.2, 0.7))))
            for q in surveys.questions_of(invitation)
        }
        surveys.survey_submit(
            invitation=invitation, scores=scores, comment=rng.choice(COMMENTS)
        )


def _building() -> Building | None:
    return (
        Building.objects.annotate(
            sold=Count(
                "units",
                filter=Q(
                    units__opportunities__stage__in=handover.SOLD_STAGES,
                    units__status=Unit.Status.CONTRACTED,
                ),
            )
        )
        .filter(sold__gt=0)
        .order_by("-sold", "pk")
        .first()
    )


def _handover(rng: random.Random, agent: User, manager: User) -> None:
    if HandoverBatch.objects.filter(name=BATCH_NAME).exists():
        return
    building = _building()
    if building is None:
        return
    today = timezone.localdate()
    batch = handover.batch_create(
        actor=manager,
        building=building,
        name=BATCH_NAME,
        starts_on=today - timedelta(days=10),
        ends_on=today + timedelta(days=20),
    )
    slots = [
        handover.slot_add(
            actor=manager,
            batch=batch,
            day=batch.starts_on + timedelta(days=day),
            starts_at=start,
            ends_at=end,
            capacity=3,
        )
        for day in range(0, 28, 3)
        for start, end in ((time(9), time(12)), (time(14), time(17)))
    ]
    handover.batch_invite(actor=manager, batch=batch)
    handover.notices_send_pending()
    appointments = list(batch.appointments.select_related("unit").order_by("pk"))
    # All but one owner booked, spread over the batch: the early ones handed over.
    booked = appointments[: max(1, len(appointments) - 1)]
    for n, appointment in enumerate(booked):
        slot = slots[n * len(slots) // len(booked)]
        handover.appointment_book(actor=agent, appointment=appointment, slot=slot)
        if slot.day < today:
            _inspect_and_hand_over(rng, agent, appointment, slot.day)
    handover.notices_send_pending()


def _inspect_and_hand_over(rng, agent, appointment, day) -> None:
    inspection = handover.inspection_start(actor=agent, appointment=appointment)
    items = list(inspection.items.order_by("position"))
    defects = set(rng.sample(range(len(items)), k=rng.randint(1, 2)))
    for n, item in enumerate(items):
        item.result = (
            InspectionItem.Result.DEFECT if n in defects else InspectionItem.Result.PASS
        )
        item.note = rng.choice(DEFECT_NOTES) if n in defects else ""
    InspectionItem.objects.bulk_update(items, ["result", "note"])
    handover.defects_to_requests(actor=agent, inspection=inspection)
    handover.handover_complete(actor=agent, appointment=appointment, on=day)


def _owners(project: Project) -> list[Opportunity]:
    return list(
        Opportunity.objects.filter(
            project=project, stage__in=handover.SOLD_STAGES, unit__isnull=False
        )
        .select_related("customer", "unit")
        .order_by("pk")
    )


def _survey_history(rng: random.Random, agent: User) -> None:
    """Closed repairs over the last months, each answered: a trend per project."""
    if SurveyResponse.objects.exists():
        return
    now = timezone.now()
    for base, project in zip(
        (4.3, 3.7), Project.objects.order_by("name"), strict=False
    ):
        deals = _owners(project)
        if not deals:
            continue
        for months_ago in range(MONTHS - 1, -1, -1):
            when = now - timedelta(days=30 * months_ago + rng.randint(0, 20))
            mean = base + (MONTHS - months_ago) * 0.06
            for deal in rng.sample(deals, k=min(3, len(deals))):
                _answered_repair(rng, agent, deal, when, mean)


def _answered_repair(rng, agent, deal: Opportunity, when, mean: float) -> None:
    request = services.request_create(
        actor=agent,
        customer=deal.customer,
        unit=deal.unit,
        kind=ServiceRequest.Kind.REPAIR,
        category=rng.choice(["plumbing", "electrical", "doors_windows"]),
        severity="normal",
        channel="phone",
        description="业主来电报修，已安排上门。",
    )
    services.request_start(actor=agent, request=request)
    services.request_resolve(actor=agent, request=request, note="已上门处理")
    services.request_callback(
        actor=agent, request=request, satisfied=True, note="已回访业主"
    )
    services.request_close(actor=agent, request=request)
    ServiceRequest.objects.filter(pk=request.pk).update(
        received_at=when - timedelta(days=3),
        responded_at=when - timedelta(days=3) + timedelta(hours=rng.randint(1, 6)),
        resolved_at=when - timedelta(days=1),
        closed_at=when,
    )
    invitation = SurveyInvitation.objects.get(request=request)
    scores = {
        q.pk: min(5, max(1, round(rng.gauss(mean, 0.8))))
        for q in surveys.questions_of(invitation)
    }
    response = surveys.survey_submit(
        invitation=invitation, scores=scores, comment=rng.choice(COMMENTS)
    )
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        status="sent", channel="sms", due_at=when, sent_at=when, answered_at=when
    )
    SurveyResponse.objects.filter(pk=response.pk).update(submitted_at=when)
