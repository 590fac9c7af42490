"""Owner referrals (老带新): recording them, and the reward when the friend signs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import webhooks
from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Channel, Customer
from customers.services import (
    DuplicateCustomer,
    customer_create,
    customer_find_by_phone,
    interaction_log,
)
from marketing import events as marketing_events
from marketing.models import Recommendation, Referral, ReferralReward, ReferralRule
from sales.models import CoBuyer, Opportunity, Project
from sales.services.ownership import BUYER_STAGES

SIGNED = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)


def is_owner(customer: Customer) -> bool:
    """An owner may refer: a customer who owns a home or has signed for one, as the
    buyer or a co-buyer (共同购房人) named on the contract."""
    return (
        customer.stage == Customer.Stage.OWNER
        or Opportunity.objects.filter(customer=customer, stage__in=SIGNED).exists()
        or CoBuyer.objects.filter(
            customer=customer, opportunity__stage__in=SIGNED
        ).exists()
    )


def has_bought(customer: Customer) -> bool:
    """Whether the customer already bought: the buyer or a co-buyer of a deal
    subscribed, contracted or paid (sales' BUYER_STAGES, as the public pool counts a
    buyer). Such a friend was brought by nobody: a referral would earn its referrer
    a reward on a purchase already made."""
    return (
        Opportunity.objects.filter(customer=customer, stage__in=BUYER_STAGES).exists()
        or CoBuyer.objects.filter(
            customer=customer, opportunity__stage__in=BUYER_STAGES
        ).exists()
    )


def reward_amount(project: Project | None) -> Decimal:
    rule = ReferralRule.objects.filter(project=project).first() if project else None
    if rule is not None:
        return rule.reward
    return Decimal(str(settings.REFERRAL_REWARD_DEFAULT))


@transaction.atomic
def referral_rule_set(
    *, actor: User, project: Project, reward: Decimal
) -> ReferralRule:
    """Set a project's referral reward; rewards already due keep their amount."""
    rule = ReferralRule.objects.select_for_update().filter(project=project).first()
    before = str(rule.reward) if rule else ""
    rule, _created = ReferralRule.objects.update_or_create(
        project=project, defaults={"reward": reward}
    )
    audit_record(
        actor=actor,
        instance=rule,
        action=AuditEntry.Action.UPDATE if before else AuditEntry.Action.CREATE,
        changes={"reward": {"old": before, "new": str(reward)}},
    )
    return rule


@transaction.atomic
def referral_create(
    *,
    actor: User,
    referrer: Customer,
    project: Project | None,
    friend: Customer | None = None,
    friend_name: str = "",
    friend_mobile: str = "",
    note: str = "",
    log_referrer: bool = True,
) -> Referral:
    """Record that an owner brought a friend: an existing customer or a new record.
    ``actor`` is None when the owner recommended the friend in the owner portal
    (referral_from_owner, which writes the owner's own timeline entry).

    Refused when the referrer is no owner, refers themselves, or the friend was
    already referred or has already bought, as buyer or co-buyer (has_bought: there
    is nothing left to reward)."""
    if not is_owner(referrer):
        raise ValidationError(
            _("Only an owner (a customer with a signed contract) can refer a friend.")
        )
    if friend is None:
        friend = customer_create(
            actor=actor,
            name=friend_name,
            mobile=friend_mobile,
            source=Customer.Source.REFERRAL,
        )
    if friend.pk == referrer.pk:
        raise ValidationError(_("A customer cannot refer themselves."))
    shown_name = _friend_name_for(actor, friend, typed=friend_name)
    if has_bought(friend):
        raise ValidationError(
            _(
                "%(name)s has already bought here (subscribed or signed, as buyer or "
                "co-buyer); there is nothing to refer."
            )
            % {"name": shown_name}
        )
    deal = (
        Opportunity.objects.filter(customer=friend, stage__in=Opportunity.OPEN_STAGES)
        .filter(**({"project": project} if project else {}))
        .order_by("-created_at")
        .first()
    )
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referrer=referrer,
                friend=friend,
                project=project,
                opportunity=deal,
                note=note,
                recorded_by=actor,
                name_given=friend_name[:100],
            )
    except IntegrityError:
        raise ValidationError(
            _("%(name)s was already referred by someone else.") % {"name": shown_name}
        ) from None
    audit_record(actor=actor, instance=referral, action=AuditEntry.Action.CREATE)
    entries = [(friend, marketing_events.REFERRED_BY(name=referrer.name))]
    if log_referrer:
        entries.insert(0, (referrer, marketing_events.REFERRED(name=shown_name)))
    for customer, entry in entries:
        interaction_log(
            customer=customer, kind="system", entry=entry, actor=actor, link=None
        )
    return referral


def _friend_name_for(actor: User | None, friend: Customer, *, typed: str) -> str:
    """The friend's name as the recorder may learn it: the CRM's when they may open
    the friend, else the name they typed. A number typed at the desk must not tell a
    consultant whose number it is (customers.forms.duplicate_message), neither in a
    refusal nor on the referrer's timeline, which everyone who sees the owner reads."""
    typed = " ".join(typed.split())[:100]
    if not typed or actor is None:
        return friend.name
    if Customer.objects.visible_to(actor, one=True).filter(pk=friend.pk).exists():
        return friend.name
    return typed


def reward_on_contract(
    *, opportunity: Opportunity, actor: User | None
) -> ReferralReward | None:
    """The friend's deal was contracted: the referrer's reward becomes due, once, and
    never when the referrer is the friend (a record merged into theirs).

    Runs inside the contract's transaction. The referral row is locked and the reward
    is one row per referral (a OneToOne), so a repeated call does nothing."""
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("referrer", "friend", "recorded_by")
        .filter(customer_matches(opportunity))
        .first()
    )
    if (
        referral is None
        or _refers_themselves(referral)
        or ReferralReward.objects.filter(referral=referral).exists()
    ):
        return None
    referral.opportunity = opportunity
    referral.save(update_fields=["opportunity"])
    reward = ReferralReward.objects.create(
        referral=referral, amount=reward_amount(opportunity.project)
    )
    audit_record(actor=actor, instance=reward, action=AuditEntry.Action.CREATE)
    from marketing import tasks
    from marketing.point_sources import REFERRAL_CONTRACT

    # The referrer's club points, once the contract is committed.
    tasks.points_award.delay_on_commit(REFERRAL_CONTRACT, [referral.referrer_id])
    interaction_log(
        customer=referral.referrer,
        kind="system",
        entry=marketing_events.REWARD_DUE(
            amount=reward.amount, name=referral.friend.name
        ),
        actor=actor,
        link=None,
    )
    # Whoever recorded the referral; for one the owner made in the portal, or one
    # whose recorder has left, the referrer's consultant.
    told = next(
        (
            user
            for user in (referral.recorded_by, referral.referrer.assigned_consultant)
            if user is not None and user.is_active
        ),
        None,
    )
    if told is not None:
        notify(
            user=told,
            entry=marketing_events.REWARD_DUE_NOTICE(
                referrer=referral.referrer.name, name=referral.friend.name
            ),
            # The owner's page: whoever recorded the referral can open it.
            target=referral.referrer,
            about=[referral.friend],
        )
    webhooks.emit(
        "referral.reward_due",
        data={
            "referral_id": referral.pk,
            "referrer_id": referral.referrer_id,
            "deal_id": opportunity.pk,
        },
    )
    return reward


def _surviving_id(customer: Customer) -> int:
    """The record the customer now lives on: their own, or the one they were merged
    into (through every later merge)."""
    pk, into = customer.pk, customer.merged_into_id
    while into is not None:
        pk = into
        into = (
            Customer.objects.filter(pk=pk)
            .values_list("merged_into_id", flat=True)
            .first()
        )
    return pk


def _refers_themselves(referral: Referral) -> bool:
    """Whether referrer and friend are one person: one record, or two merged (a merge
    leaves a referral between the two records on the absorbed one). Nobody earns a
    reward on their own deal."""
    return _surviving_id(referral.referrer) == _surviving_id(referral.friend)


def customer_matches(opportunity: Opportunity):
    from django.db.models import Q

    return Q(friend_id=opportunity.customer_id) & (
        Q(project__isnull=True) | Q(project_id=opportunity.project_id)
    )


PORTAL_CHANNEL = Channel.PORTAL
# Recommendations one owner may send in a day: enough for a family gathering, too few
# to fill the CRM with numbers from a list.
RECOMMENDATIONS_PER_DAY = 10


def _consultant_for_new_friend(owner: Customer) -> User | None:
    """A friend new to the CRM goes to the referrer's consultant (the 老带新 lead),
    when that consultant still works here; otherwise to the public pool."""
    consultant = owner.assigned_consultant
    if consultant is not None and consultant.is_active:
        return consultant
    return None


@transaction.atomic
def referral_from_owner(
    *,
    owner: Customer,
    friend_name: str,
    friend_mobile: str,
    friend_agreed: bool,
    project: Project | None = None,
) -> Recommendation:
    """An owner recommends a friend in the owner portal (老带新).

    The friend is found by number as at the desk (a twin is never created: an
    existing customer keeps their record and the consultant who protects them); a
    new number becomes a customer of the referrer's consultant. The recommendation
    becomes a referral with the owner as referrer unless the friend was already
    referred, has already signed or is of the owner's own household: then it is kept
    declined, with the reason for the staff only. Either way the owner's portal shows
    the name they typed and nothing from the CRM about the friend."""
    if not friend_agreed:
        raise ValidationError(
            _("Recommend a friend only after they agreed to be contacted by us.")
        )
    if not is_owner(owner):
        raise ValidationError(
            _("Recommending friends opens once your purchase contract is signed.")
        )
    name = friend_name.strip()[:100]
    owner = Customer.objects.select_for_update().get(pk=owner.pk)
    today = Recommendation.objects.filter(
        owner=owner, created_at__gte=timezone.now() - timedelta(days=1)
    ).count()
    if today >= RECOMMENDATIONS_PER_DAY:
        raise ValidationError(
            _(
                "You have recommended many friends today. Please try again tomorrow, "
                "or call your consultant."
            )
        )
    friend = customer_find_by_phone(friend_mobile)
    outcome = _declined_because(owner, friend)
    referral = None
    if outcome is None:
        if friend is None:
            consultant = _consultant_for_new_friend(owner)
            try:
                friend = customer_create(
                    actor=None,
                    name=name,
                    mobile=friend_mobile,
                    source=Customer.Source.REFERRAL,
                    assigned_consultant=consultant,
                )
            except DuplicateCustomer as twin:
                # Registered at the desk a moment ago: that record, as above.
                friend = twin.existing
                outcome = _declined_because(owner, friend)
        if outcome is None:
            try:
                with transaction.atomic():
                    referral = referral_create(
                        actor=None,
                        referrer=owner,
                        project=project,
                        friend=friend,
                        friend_name=name,
                        log_referrer=False,
                    )
            except ValidationError:
                # Referred or signed in a race with another desk.
                outcome = Recommendation.Outcome.ALREADY_REFERRED
    recommendation = Recommendation.objects.create(
        owner=owner,
        name_given=name,
        mobile_given=friend_mobile,
        friend_agreed=True,
        outcome=outcome or Recommendation.Outcome.REFERRED,
        referral=referral,
    )
    interaction_log(
        customer=owner,
        kind="system",
        channel=PORTAL_CHANNEL,
        entry=marketing_events.RECOMMENDED_IN_PORTAL(name=name)
        if referral is not None
        else marketing_events.RECOMMENDATION_DECLINED(
            name=name, outcome=recommendation.outcome
        ),
        actor=None,
        link=referral,
    )
    told = (friend.assigned_consultant if friend is not None else None) or (
        owner.assigned_consultant
    )
    if referral is not None and told is not None and told.is_active:
        notify(
            user=told,
            entry=marketing_events.PORTAL_REFERRAL_NOTICE(
                referrer=owner.name, name=friend.name
            ),
            target=friend,
        )
    return recommendation


def _declined_because(owner: Customer, friend: Customer | None) -> str | None:
    if friend is None:
        return None
    if friend.pk == owner.pk or (
        friend.household_id is not None and friend.household_id == owner.household_id
    ):
        return Recommendation.Outcome.OWN_HOUSEHOLD
    if Referral.objects.filter(friend=friend).exists():
        return Recommendation.Outcome.ALREADY_REFERRED
    if has_bought(friend):
        return Recommendation.Outcome.ALREADY_SIGNED
    return None
