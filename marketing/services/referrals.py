"""Owner referrals (老带新): recording them, and the reward when the friend signs."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm_site.audit import audit_record
from crm_site.models import AuditEntry, User
from crm_site.notifications import notify
from customers.models import Customer
from customers.services import customer_create, interaction_log
from marketing import events as marketing_events
from marketing.models import Referral, ReferralReward, ReferralRule
from sales.models import Opportunity, Project

SIGNED = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)


def is_owner(customer: Customer) -> bool:
    """An owner may refer: a customer who owns a home or has signed for one."""
    return (
        customer.stage == Customer.Stage.OWNER
        or Opportunity.objects.filter(customer=customer, stage__in=SIGNED).exists()
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
) -> Referral:
    """Record that an owner brought a friend: an existing customer or a new record.

    Refused when the referrer is no owner, refers themselves, or the friend was
    already referred or has already signed (there is nothing left to reward)."""
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
    if Opportunity.objects.filter(customer=friend, stage__in=SIGNED).exists():
        raise ValidationError(
            _("%(name)s has already signed a contract; there is nothing to refer.")
            % {"name": friend.name}
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
            )
    except IntegrityError:
        raise ValidationError(
            _("%(name)s was already referred by someone else.") % {"name": friend.name}
        ) from None
    audit_record(actor=actor, instance=referral, action=AuditEntry.Action.CREATE)
    for customer, entry in (
        (referrer, marketing_events.REFERRED(name=friend.name)),
        (friend, marketing_events.REFERRED_BY(name=referrer.name)),
    ):
        interaction_log(
            customer=customer, kind="system", entry=entry, actor=actor, link=None
        )
    return referral


def reward_on_contract(
    *, opportunity: Opportunity, actor: User | None
) -> ReferralReward | None:
    """The friend's deal was contracted: the referrer's reward becomes due, once.

    Runs inside the contract's transaction. The referral row is locked and the reward
    is one row per referral (a OneToOne), so a repeated call does nothing."""
    referral = (
        Referral.objects.select_for_update()
        .select_related("referrer", "friend", "recorded_by")
        .filter(customer_matches(opportunity))
        .first()
    )
    if referral is None or ReferralReward.objects.filter(referral=referral).exists():
        return None
    referral.opportunity = opportunity
    referral.save(update_fields=["opportunity"])
    reward = ReferralReward.objects.create(
        referral=referral, amount=reward_amount(opportunity.project)
    )
    audit_record(actor=actor, instance=reward, action=AuditEntry.Action.CREATE)
    interaction_log(
        customer=referral.referrer,
        kind="system",
        entry=marketing_events.REWARD_DUE(
            amount=reward.amount, name=referral.friend.name
        ),
        actor=actor,
        link=None,
    )
    notify(
        user=referral.recorded_by,
        entry=marketing_events.REWARD_DUE_NOTICE(
            referrer=referral.referrer.name, name=referral.friend.name
        ),
        # The owner's page: whoever recorded the referral can open it.
        target=referral.referrer,
    )
    return reward


def customer_matches(opportunity: Opportunity):
    from django.db.models import Q

    return Q(friend_id=opportunity.customer_id) & (
        Q(project__isnull=True) | Q(project_id=opportunity.project_id)
    )
