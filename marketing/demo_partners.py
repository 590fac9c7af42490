"""Demo data for referrals and channel partners (run by demo_data after its own steps).

A channel partner with a broker login ("broker", the demo password), customers the
broker registered (one refused: protected by a consultant), two of them contracted
with a commission due and one paid; owner referrals in every state, one reward paid.
Safe to run twice: it does nothing once the partner has registrations.
"""

from __future__ import annotations

import contextlib
import random
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db.models import Count, Q

from crm_site.audit import unaudited
from crm_site.models import User
from crm_site.roles import Role
from customers.models import Customer
from customers.sample_data import chinese_name, mobile_number
from customers.services import existing_with_mobile
from marketing.models import (
    Broker,
    ChannelPartner,
    Commission,
    PartnerRegistration,
    ReferralReward,
    ReferralRule,
)
from marketing.models.payouts import Payout
from marketing.services.partners import (
    PartnerRegistrationRefused,
    partner_registration_create,
)
from marketing.services.payouts import payout_move
from marketing.services.referrals import referral_create
from sales import services as sales_services
from sales.models import Opportunity, Project, Registration, Unit
from sales.services.ownership import registration_reassign

PARTNER_NAME = "链家·滨江店"
BROKER = ("broker", "孙", "立")
BROKER_EMAIL = "broker@partner.example.com"
DEMO_LOGINS = [(BROKER[0], Role.CHANNEL_PARTNER)]
# The login this module creates, told from a real user of that name by its e-mail
# (crm_site's demo_data command: its guard and its list of demo logins).
DEMO_ACCOUNTS = {BROKER[0]: BROKER_EMAIL}


@unaudited("demo data sets up and back-dates its own history")
def seed(rng: random.Random, users: dict[str, User]) -> None:
    from crm_site.management.commands.demo_data import DEMO_PASSWORD

    # The project with the most units still on sale: its deals need free units.
    project = (
        Project.objects.annotate(
            free=Count(
                "buildings__units",
                filter=Q(buildings__units__status=Unit.Status.AVAILABLE),
            )
        )
        .order_by("-free", "name")
        .first()
    )
    if project is None:
        return
    partner, _created = ChannelPartner.objects.get_or_create(
        name=PARTNER_NAME,
        defaults={
            "contact_name": "周经理",
            "contact_phone": "+8613512340000",
            "commission_kind": ChannelPartner.CommissionKind.PERCENT,
            "commission_value": Decimal("1.50"),
        },
    )
    broker = _broker(partner, DEMO_PASSWORD)
    if broker is None or PartnerRegistration.objects.filter(partner=partner).exists():
        return
    ReferralRule.objects.get_or_create(
        project=project, defaults={"reward": Decimal("8000.00")}
    )
    _partner_registrations(rng, users, partner, broker, project)
    _referrals(rng, users, project)


def _broker(partner: ChannelPartner, password: str) -> User | None:
    """The demo broker login of the partner: created with the channel-partner role
    and the demo password. One that exists is used as it is (no role, no password
    given); a user of that name that is not the demo broker is not made the
    partner's broker: None, and the partner gets no demo registrations."""
    username, family, given = BROKER
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create(
            username=username,
            last_name=family,
            first_name=given,
            email=BROKER_EMAIL,
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get_or_create(name=Role.CHANNEL_PARTNER.value)[0])
    elif user.email != BROKER_EMAIL:
        return None
    Broker.objects.get_or_create(user=user, defaults={"partner": partner})
    return user


def _new_mobile(rng: random.Random) -> str:
    while True:
        mobile = mobile_number(rng)
        if existing_with_mobile(mobile) is None:
            return mobile


def _contract(customer: Customer, consultant: User, project: Project) -> Opportunity:
    deal = sales_services.opportunity_open(
        actor=consultant, customer=customer, project=project
    )
    unit = Unit.objects.filter(
        building__project=project, status=Unit.Status.AVAILABLE
    ).first()
    sales_services.unit_reserve(actor=consultant, opportunity=deal, unit=unit)
    sales_services.unit_subscribe(actor=consultant, opportunity=deal)
    return sales_services.opportunity_contract(actor=consultant, opportunity=deal)


def _partner_registrations(rng, users, partner, broker, project) -> None:
    links = [
        partner_registration_create(
            broker=broker,
            partner=partner,
            project=project,
            name=chinese_name(rng),
            mobile=_new_mobile(rng),
        )
        for _ in range(5)
    ]
    protected = (
        Registration.objects.filter(
            project=project,
            status=Registration.Status.PROTECTED,
            consultant=users["consultant"],
        )
        .select_related("customer")
        .first()
    )
    if protected is not None:
        # A customer a consultant protects: refused, and the refusal recorded.
        with contextlib.suppress(PartnerRegistrationRefused):
            partner_registration_create(
                broker=broker,
                partner=partner,
                project=project,
                name=protected.customer.name,
                mobile=protected.customer.mobile,
            )
    # Two came to the sales office, were handed to a consultant and signed.
    consultant = users["consultant"]
    for link in links[:2]:
        registration_reassign(
            actor=users["sales_manager"],
            registration=link.registration,
            consultant=consultant,
            reason="渠道客户到访，转置业顾问跟进",
        )
        _contract(link.customer, consultant, project)
    paid = Commission.objects.filter(partner=partner).order_by("pk").first()
    if paid is not None:
        payout_move(actor=users["marketer"], payout=paid, status=Payout.Status.PAID)


def _referrals(rng, users, project) -> None:
    """Five friends of owners: waiting, visited, and three signed — reward due,
    approved and paid."""
    consultant = users["consultant"]
    owners = list(
        Customer.objects.filter(
            opportunities__stage__in=[
                Opportunity.Stage.CONTRACTED,
                Opportunity.Stage.PAID,
            ]
        )
        .distinct()
        .order_by("pk")[:5]
    )
    if not owners:
        return
    referrals = [
        referral_create(
            actor=consultant,
            referrer=owners[n % len(owners)],
            project=project,
            friend_name=chinese_name(rng),
            friend_mobile=_new_mobile(rng),
            note="老业主带朋友来看房",
        )
        for n in range(5)
    ]
    visited = sales_services.opportunity_open(
        actor=consultant, customer=referrals[1].friend, project=project
    )
    visited.move_to(Opportunity.Stage.VISITED, actor=consultant)
    for referral in referrals[2:]:
        _contract(referral.friend, consultant, project)
    rewards = list(
        ReferralReward.objects.filter(referral__in=referrals[3:]).order_by("pk")
    )
    for reward in rewards:
        payout_move(
            actor=users["sales_manager"], payout=reward, status=Payout.Status.APPROVED
        )
    if rewards:
        payout_move(
            actor=users["marketer"], payout=rewards[-1], status=Payout.Status.PAID
        )
