"""What service adds to the owners' portal (crm_site.portal): under each home the
handover (batch, slot, booking) and the inspection with its defects and their repair
status; the open surveys section; and handover owners may sign in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sales.portal import owner_unit_ids
from service import handover
from service.models import (
    HandoverAppointment,
    InspectionItem,
    SurveyInvitation,
)


def eligible(customer_ids: Iterable[int]) -> set[int]:
    """Owners invited to a handover (the unit is theirs); an appointment cancelled
    with its deal (退房, 更名) lets no one in."""
    return set(
        HandoverAppointment.objects.filter(customer_id__in=list(customer_ids))
        .exclude(status=HandoverAppointment.Status.CANCELLED)
        .values_list("customer_id", flat=True)
    )


def household_appointments(household_ids: Iterable[int]):
    """The household's appointments; narrow them to the owner's homes (by unit, as
    home_panel does, or with owner_appointments)."""
    return (
        HandoverAppointment.objects.filter(customer_id__in=list(household_ids))
        .exclude(status=HandoverAppointment.Status.CANCELLED)
        .select_related("batch", "slot", "unit__building__project")
        .annotate(still_sold=handover.sold_to_invitee())
    )


def owner_appointments(household_ids: Iterable[int], deal_ids: Iterable[int]):
    """The household's appointments for the units of the owner's own deals
    (``request.owner_deal_ids``), not for another home a co-buyer bought with someone
    else. The units are a subquery: no query of their own."""
    return household_appointments(household_ids).filter(
        unit_id__in=owner_unit_ids(deal_ids)
    )


def home_panel(household_ids: frozenset[int], unit_ids: list[int]) -> dict[int, dict]:
    """Per unit: its handover appointment and the inspection's defects with their
    repair requests. Two queries whatever the number of units and defects."""
    appointments = list(
        household_appointments(household_ids)
        .filter(unit_id__in=unit_ids)
        .select_related("inspection")
        .order_by("unit_id", "-created_at")
    )
    inspections = [a.inspection for a in appointments if getattr(a, "inspection", None)]
    defects: dict[int, list[InspectionItem]] = {i.pk: [] for i in inspections}
    if inspections:
        for item in (
            InspectionItem.objects.filter(
                inspection__in=inspections, result=InspectionItem.Result.DEFECT
            )
            .select_related("repair_request")
            .order_by("position")
        ):
            defects[item.inspection_id].append(item)
    panels: dict[int, dict] = {}
    for appointment in appointments:
        if appointment.unit_id in panels:
            continue
        inspection = getattr(appointment, "inspection", None)
        panels[appointment.unit_id] = {
            "appointment": appointment,
            "booking_open": handover.booking_open(appointment),
            "inspection": inspection,
            "defects": defects.get(inspection.pk, []) if inspection else [],
        }
    return panels


def open_surveys(
    *, owner_id: int, household_ids: Iterable[int], deal_ids: Iterable[int]
) -> list[SurveyInvitation]:
    """The owner's surveys not answered, whose link still works. A survey is about
    one request or one handover: the owner sees those sent to them, and those sent to
    their household about a request they follow or the handover of one of their own
    homes (``request.owner_deal_ids``), as the repairs section does; never a co-buyer's
    survey about another home bought with someone else."""
    from service.portal_requests import owners_requests

    since = timezone.now() - timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS)
    followed = owners_requests(
        owner_id=owner_id, household_ids=frozenset(household_ids), deal_ids=deal_ids
    ).values("pk")
    return list(
        SurveyInvitation.objects.filter(
            Q(customer_id=owner_id)
            | Q(customer_id__in=list(household_ids))
            & (
                Q(request__in=followed)
                | Q(appointment__unit_id__in=owner_unit_ids(deal_ids))
            ),
            status="sent",
            answered_at__isnull=True,
            sent_at__gte=since,
        )
        .select_related(
            "template",
            "project",
            "request",
            "appointment__unit__building",
        )
        .order_by("-sent_at", "-pk")
    )


def register() -> None:
    from crm_site import portal

    portal.register_eligibility(eligible)
    portal.register_home_panel(
        "service.handover",
        template="service/_portal_home_handover.html",
        context=home_panel,
        order=10,
    )
    portal.register(
        "service.surveys",
        title=_("Surveys"),
        url_name="service_portal:surveys",
        order=60,
        icon="bi-clipboard-check",
    )
