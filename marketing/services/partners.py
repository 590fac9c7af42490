"""Channel partners: brokers register customers under the consultants' protection rules,
and the partner earns a commission when such a customer's deal is contracted."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.roles import Role
from customers.models import Customer
from customers.services import (
    DuplicateCustomer,
    customer_access_grant,
    customer_create,
    customer_find_by_phone,
    interaction_log,
)
from marketing import events as marketing_events
from marketing.models import Broker, ChannelPartner, Commission, PartnerRegistration
from sales.models import Opportunity, OwnershipEvent, Project, Registration
from sales.services.ownership import RegistrationRefused, registration_create


class PartnerRegistrationRefused(Exception):
    """The customer is protected at the project by someone else.

    The broker is outside the company: the message tells them only that the customer
    is taken, not by whom nor until when (the date would tell them when to try again
    to take the customer over) nor anything about the customer. The refusal on record
    (OwnershipEvent) keeps the owner and the date, for the sales managers."""

    def __init__(self, registration: Registration) -> None:
        self.registration = registration
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return _(
            "This customer is already registered at this project and cannot be "
            "registered for you. Ask your contact in the sales office if you think "
            "this is wrong."
        )


# Registrations one broker may try in a day, refusals included: a busy day in the
# field, too few to protect a pasted list of numbers (blocking the consultants for
# the call window) or to learn from the answers which numbers are taken.
REGISTRATIONS_PER_DAY = 30


class PartnerRegistrationLimit(PartnerRegistrationRefused):
    """The broker tried as many registrations as a day allows; nothing was looked up."""

    def __init__(self) -> None:
        self.registration = None
        Exception.__init__(self, self.message)

    @property
    def message(self) -> str:
        return _(
            "You have registered many customers in the last 24 hours. Please try "
            "again later, or ask your contact in the sales office."
        )


def _refuse_past_daily_limit(broker: User) -> None:
    """Raise PartnerRegistrationLimit when the broker tried REGISTRATIONS_PER_DAY
    registrations in the last 24 hours (each registered or refused one is on record
    as an OwnershipEvent). The broker's row is locked first: two registrations posted
    at once are counted one after the other, so the cap holds."""
    Broker.objects.select_for_update().filter(user=broker).values_list("pk").first()
    tried = OwnershipEvent.objects.filter(
        consultant_id=broker.pk,
        kind__in=(OwnershipEvent.Kind.REGISTERED, OwnershipEvent.Kind.REFUSED),
        at__gte=timezone.now() - timedelta(days=1),
    )[:REGISTRATIONS_PER_DAY].count()
    if tried >= REGISTRATIONS_PER_DAY:
        raise PartnerRegistrationLimit


def partner_of(user: User) -> ChannelPartner | None:
    broker = (
        Broker.objects.select_related("partner")
        .filter(user=user, partner__is_active=True)
        .first()
    )
    return broker.partner if broker else None


def partner_registration_create(
    *, broker: User, partner: ChannelPartner, project: Project, name: str, mobile: str
) -> PartnerRegistration:
    """Register a customer at a project for the partner, as a consultant would.

    A new number creates the customer (source: channel partner). The registration goes
    through sales' registration_create with the broker as the holder, so the protection
    windows, the refusal of a customer someone else protects and its OwnershipEvent
    are the consultants' own. The refusal is committed (it is evidence in a dispute)
    before PartnerRegistrationRefused is raised. At most REGISTRATIONS_PER_DAY tries
    a broker a day (PartnerRegistrationLimit, before the number is looked up)."""
    with transaction.atomic():
        _refuse_past_daily_limit(broker)
        customer = customer_find_by_phone(mobile)
        if customer is None:
            try:
                customer = customer_create(
                    actor=broker,
                    name=name,
                    mobile=mobile,
                    source=Customer.Source.BROKER,
                )
            except DuplicateCustomer as twin:
                # Registered elsewhere a moment ago (another broker, a desk): that
                # record, whose protection decides as for any number found.
                customer = twin.existing
        try:
            registration = registration_create(
                actor=broker,
                customer=customer,
                project=project,
                consultant=broker,
                basis=Registration.Basis.CALL,
                because=marketing_events.REGISTERED_BY_PARTNER(partner=partner.name),
            )
        except RegistrationRefused as refused:
            existing = refused.registration
        else:
            link, created = PartnerRegistration.objects.get_or_create(
                registration=registration,
                defaults={
                    "partner": partner,
                    "broker": broker,
                    # The registration's: a merge committed since the number
                    # was looked up moved the person to the record that lives on.
                    "customer": registration.customer,
                    "project": project,
                    "name_given": name[:100],
                    "mobile_given": mobile[:20],
                },
            )
            if created:
                # The record the registration protects: the one found by the
                # number may have been merged into it since.
                _show_to_sales_managers(registration.customer, project)
                interaction_log(
                    customer=registration.customer,
                    kind="system",
                    entry=marketing_events.PARTNER_REGISTERED(
                        project=project.name, partner=partner.name
                    ),
                    actor=broker,
                )
            return link
    raise PartnerRegistrationRefused(existing)


def _show_to_sales_managers(customer: Customer, project: Project) -> None:
    """The sales managers of the project's teams may see a partner's customer, so they
    can hand them to a consultant when they visit (the broker holds the registration,
    and a broker belongs to no sales team)."""
    managers = User.objects.filter(
        is_active=True,
        team__in=project.teams.all(),
        groups__name=Role.SALES_MANAGER.value,
    ).distinct()
    for manager in managers:
        customer_access_grant(customer=customer, user=manager, reason="partner")


def _credited_registration(opportunity: Opportunity) -> PartnerRegistration | None:
    """The partner registration a contracted deal is credited to: the latest one of the
    customer at the project made before the deal was opened, unless it lapsed to the
    pool before then (a handover to sales by reassignment still counts). A deal already
    open when the broker registered the customer (their consultant's protection had
    lapsed meanwhile) was not brought by the broker."""
    lapsed_first = Q(
        registration__status=Registration.Status.LAPSED,
        registration__ended_at__lt=opportunity.created_at,
    )
    return (
        PartnerRegistration.objects.select_related("partner")
        .filter(
            customer_id=opportunity.customer_id,
            project_id=opportunity.project_id,
            created_at__lte=opportunity.created_at,
        )
        .exclude(lapsed_first)
        # One commission a registration: a deal signed again after a cancellation
        # earns it again only if the first was withdrawn (marketing.handlers).
        .exclude(commissions__isnull=False)
        .order_by("-created_at")
        .first()
    )


def commission_on_contract(
    *, opportunity: Opportunity, actor: User | None
) -> Commission | None:
    """The deal of a partner's customer was contracted: the commission becomes due, once
    per deal (the deal is unique on Commission)."""
    if Commission.objects.filter(opportunity=opportunity).exists():
        return None
    link = _credited_registration(opportunity)
    if link is None:
        return None
    commission, created = Commission.objects.get_or_create(
        opportunity=opportunity,
        defaults={
            "partner": link.partner,
            "registration": link,
            "base_price": opportunity.agreed_price,
            "amount": link.partner.commission_for(opportunity.agreed_price),
        },
    )
    if created:
        audit_record(actor=actor, instance=commission, action=AuditEntry.Action.CREATE)
    return commission if created else None


@transaction.atomic
def broker_create(
    *,
    actor: User,
    partner: ChannelPartner,
    username: str,
    password: str,
    family_name: str,
    given_name: str,
) -> Broker:
    """A login for a partner's broker, holding the channel_partner role only."""
    user = User.objects.create_user(
        username=username,
        password=password,
        last_name=family_name,
        first_name=given_name,
    )
    group, _created = Group.objects.get_or_create(name=Role.CHANNEL_PARTNER.value)
    user.groups.add(group)
    broker = Broker.objects.create(user=user, partner=partner)
    audit_record(actor=actor, instance=broker, action=AuditEntry.Action.CREATE)
    return broker
