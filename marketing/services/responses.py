"""Responses: sign-ups and check-ins at the door. Each lands on the customer's
timeline; a responder nobody owns becomes a lead for a consultant of the project's
team (round-robin), or stays in the public pool when the team has none."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from crm_site.models import User
from crm_site.notifications import notify
from customers.models import Channel, Customer, Interaction
from customers.services import interaction_log
from marketing import events as marketing_events
from marketing.models import Campaign, CampaignMember, Response
from marketing.models.campaigns import campaign_today
from sales.models import Project, Registration
from sales.services import opportunity_open
from sales.services.ownership import (
    RegistrationRefused,
    open_deals_at,
    registration_create,
)


class ResponseRefused(Exception):
    pass


def member_by_code(*, campaign: Campaign, code: str) -> CampaignMember:
    normalized = CampaignMember.normalize_code(code)
    member = (
        CampaignMember.objects.select_related("customer")
        .filter(campaign=campaign, code=normalized)
        .first()
        if normalized
        else None
    )
    if member is None:
        raise ResponseRefused(
            _("No guest of this campaign has the code %(code)s.") % {"code": code}
        )
    return member


def level_reached(*, campaign: Campaign, customer_id: int) -> bool:
    """Whether the customer may sign up for a club event restricted to a level."""
    if campaign.min_level_id is None:
        return True
    from marketing.models import ClubMember

    return ClubMember.objects.filter(
        customer_id=customer_id, balance__gte=campaign.min_level.min_points
    ).exists()


@transaction.atomic
def response_record(
    *,
    actor: User | None,
    member: CampaignMember,
    kind: str,
    channel: str = "",
) -> tuple[Response, bool]:
    """Record a sign-up or check-in once; repeating it returns the first one.
    ``channel`` says where a sign-up came from when not a link or the door (the
    owner portal)."""
    campaign = Campaign.objects.select_related("created_by", "min_level").get(
        pk=member.campaign_id
    )
    refuse_unless_running(campaign, kind=kind)
    if member.customer.is_gone:
        # An old link of a record merged away or anonymised: no sign-up, lead or
        # deal comes of it (an anonymised person's link may be anyone's now).
        raise ResponseRefused(_("This link is not valid."))
    if kind == Response.Kind.SIGNUP and not level_reached(
        campaign=campaign, customer_id=member.customer_id
    ):
        raise ResponseRefused(
            _("This event is for club members of level %(level)s and above.")
            % {"level": campaign.min_level.name}
        )
    response, created = Response.objects.get_or_create(
        member=member,
        kind=kind,
        defaults={
            "campaign": campaign,
            "customer_id": member.customer_id,
            "recorded_by": actor,
        },
    )
    if not created:
        return response, False
    response.campaign = campaign
    # A responder nobody owns becomes a lead (lead_assign): its locks are taken in
    # the sales order (project, then the customer's open deal there, then the
    # customer), as a deposit or a subscription of the same customer takes them.
    # Locking the customer first deadlocked with those.
    leading = (
        Customer.objects.filter(pk=member.customer_id, assigned_consultant__isnull=True)
        .values_list("pk")
        .exists()
    )
    if leading:
        _lead_locks(campaign=campaign, customer_id=member.customer_id)
    customer = Customer.objects.select_for_update().get(pk=member.customer_id)
    if customer.is_gone:
        # Merged away or anonymised while this waited for the lock (the check above
        # read the record before): refused as that check refuses, nothing kept.
        raise ResponseRefused(_("This link is not valid."))
    answered = (
        marketing_events.CHECKED_IN
        if kind == Response.Kind.CHECKIN
        else marketing_events.SIGNED_UP_IN_PORTAL
        if channel == Channel.PORTAL
        else marketing_events.SIGNED_UP
    )
    interaction_log(
        customer=customer,
        kind=Interaction.Kind.EVENT,
        entry=answered(campaign=campaign.name),
        actor=actor,
        channel=channel,
        link=campaign,
        # Coming to an event is a contact, but the consultant's planned follow-up stays.
        next_follow_up=customer.next_follow_up,
    )
    if kind == Response.Kind.CHECKIN and campaign.kind == Campaign.Kind.EVENT:
        from marketing import tasks
        from marketing.point_sources import EVENT_ATTENDED

        # Club points for coming to the event, once the check-in is committed.
        tasks.points_award.delay_on_commit(EVENT_ATTENDED, [customer.pk])
    if customer.assigned_consultant_id is None:
        # (Lost their consultant since the read above, a lapse in between: still a
        # lead; the locks above are then taken late, the old order, a rare retry.)
        lead_assign(actor=actor, response=response, customer=customer)
    return response, True


def closed_reason(campaign: Campaign, *, kind: str) -> str:
    """Why the campaign takes no sign-ups (or check-ins) now, or "" while it does:
    running and not past its end date (the last day included, in Asia/Shanghai).
    The pages say it before the guest presses a button; refuse_unless_running says
    it on the press. Ended by its date, before or after the hourly task recorded it,
    it names the date."""
    ended_by_date = (
        campaign.status
        in (
            Campaign.Status.RUNNING,
            Campaign.Status.FINISHED,
        )
        and campaign.ends_on < campaign_today()
    )
    if ended_by_date:
        if kind == Response.Kind.CHECKIN:
            message = _("The campaign ended on %(day)s: check-in is closed.")
        else:
            message = _("The campaign ended on %(day)s: sign-ups are closed.")
        return message % {"day": campaign.ends_on.isoformat()}
    if campaign.status != Campaign.Status.RUNNING:
        return _("The campaign is not running.")
    return ""


def refuse_unless_running(campaign: Campaign, *, kind: str) -> None:
    """ResponseRefused unless the campaign takes sign-ups and check-ins now."""
    reason = closed_reason(campaign, kind=kind)
    if reason:
        raise ResponseRefused(reason)


def _lead_locks(*, campaign: Campaign, customer_id: int) -> None:
    """The locks a lead hand-out needs, before the customer's: the project (one
    hand-out at a time keeps the rotation fair; NO KEY, so deals and registrations
    may still be written there) and the customer's open deal at it."""
    Project.objects.select_for_update(no_key=True).values_list("pk").get(
        pk=campaign.project_id
    )
    list(
        open_deals_at(customer_id, campaign.project_id)
        .select_for_update()
        .values_list("pk")
    )


def _project_consultants(project: Project) -> list[User]:
    perm = Permission.objects.get(
        content_type__app_label="customers", codename="scope_own"
    )
    return list(
        User.objects.filter(is_active=True, team__projects=project)
        .filter(Q(groups__permissions=perm) | Q(user_permissions=perm))
        .distinct()
        .order_by("pk")
    )


def _next_consultant(project: Project, consultants: list[User]) -> User:
    last = (
        Response.objects.filter(
            campaign__project=project, lead_consultant__isnull=False
        )
        .order_by("-id")
        .values_list("lead_consultant_id", flat=True)
        .first()
    )
    later = [user for user in consultants if last is not None and user.pk > last]
    return later[0] if later else consultants[0]


def lead_assign(*, actor: User | None, response: Response, customer: Customer) -> None:
    """Hand an unowned responder to the next consultant of the project's team: a
    registration (so they own the customer) and a new deal, and a notification."""
    campaign = response.campaign
    # One hand-out at a time per project keeps the rotation fair; response_record
    # took this lock (and the deal's) before the customer's, in the sales order.
    project = Project.objects.select_for_update(no_key=True).get(pk=campaign.project_id)
    consultants = _project_consultants(project)
    if not consultants:
        if campaign.created_by_id:
            notify(
                user=campaign.created_by,
                entry=marketing_events.NO_CONSULTANT(
                    customer=customer.name,
                    campaign=campaign.name,
                    project=project.name,
                ),
                target=campaign,
            )
        return
    consultant = _next_consultant(project, consultants)
    try:
        registration = registration_create(
            actor=actor,
            customer=customer,
            project=project,
            consultant=consultant,
            basis=Registration.Basis.REASSIGN,
            because=marketing_events.LEAD_FROM_CAMPAIGN(campaign=campaign.name),
        )
    except RegistrationRefused:
        return  # someone protects the customer at this project already
    # The registration's: a merge committed since the response was read moved the
    # person to the record that lives on.
    customer = registration.customer
    opportunity_open(
        actor=actor or consultant,
        customer=customer,
        project=project,
        consultant=consultant,
    )
    Response.objects.filter(pk=response.pk).update(lead_consultant=consultant)
    response.lead_consultant = consultant
    notify(
        user=consultant,
        entry=marketing_events.NEW_LEAD(campaign=campaign.name, customer=customer.name),
        target=customer,
    )


def checkin_by_code(
    *, actor: User, campaign: Campaign, code: str
) -> tuple[Response, bool]:
    member = member_by_code(campaign=campaign, code=code)
    return response_record(actor=actor, member=member, kind=Response.Kind.CHECKIN)
