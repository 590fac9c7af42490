"""Demo data for repairs and the GM mailbox in the owners' portal (runs after the demo
owner is created, service.demo_portal).

The demo owner (林晓, else the first owner on record) reported a window that lets the
rain in, which service_agent accepted and is working on, and a complaint about the
garage lights still waiting to be accepted; she also wrote to the general manager about
the unfinished gardens, waiting for an answer. Safe to run twice: each part is skipped
when its rows exist.
"""

from __future__ import annotations

import random

from django.db import transaction

from crm_site import portal
from crm_site.audit import unaudited
from crm_site.models import User
from customers.services import existing_with_mobile
from sales.models import Opportunity
from service import mailbox, portal_requests, services
from service.demo_portal import DEMO_OWNER_MOBILE
from service.models import OwnerLetter, ServiceRequest


def _owner_deal() -> Opportunity | None:
    """The demo owner's bought deal, else the first bought deal with a unit."""
    deals = Opportunity.objects.filter(
        stage__in=services.OWNING_STAGES, unit__isnull=False
    ).select_related("customer", "unit")
    owner = existing_with_mobile(DEMO_OWNER_MOBILE)
    if owner is not None:
        mine = deals.filter(customer=owner).order_by("pk").first()
        if mine is not None:
            return mine
    return deals.order_by("pk").first()


@transaction.atomic
@unaudited("demo data sets up its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    deal = _owner_deal()
    if deal is None:
        return
    household = portal.household_ids(deal.customer)
    portal_made = ServiceRequest.objects.filter(channel=ServiceRequest.Channel.PORTAL)
    if not portal_made.exists():
        agent = users["service_agent"]
        window = portal_requests.portal_request_submit(
            owner=deal.customer,
            household_ids=household,
            unit=deal.unit,
            kind=ServiceRequest.Kind.REPAIR,
            category="doors_windows",
            description="主卧窗户关不严，下雨时窗台进水。",
        )
        portal_requests.request_accept(actor=agent, request=window)
        services.request_start(actor=agent, request=window)
        portal_requests.portal_request_submit(
            owner=deal.customer,
            household_ids=household,
            unit=deal.unit,
            kind=ServiceRequest.Kind.COMPLAINT,
            category="property_management",
            description="地下车库照明坏了一周，物业一直没有修。",
        )
    if not OwnerLetter.objects.exists():
        mailbox.letter_write(
            owner=deal.customer,
            household_ids=household,
            subject="小区东侧绿化何时完成？",
            body="交房已经半年，东侧绿化带还是一片空地，希望公司给出完成时间。",
            unit=deal.unit,
        )
