"""What marketing does when sales tells it something (see sales.signals)."""

from __future__ import annotations


def on_deal_contracted(sender, *, opportunity, actor=None, **kwargs) -> None:
    """A contract makes the referral reward and the partner commission due."""
    from marketing.services.partners import commission_on_contract
    from marketing.services.referrals import reward_on_contract

    reward_on_contract(opportunity=opportunity, actor=actor)
    commission_on_contract(opportunity=opportunity, actor=actor)


def on_deal_cancelled(sender, *, opportunity, actor=None, **kwargs) -> None:
    """A cancelled deal earns nothing: its referral reward and partner commission,
    while unpaid, are withdrawn, and so are the referrer's club points for it (a
    correction answers the award); the referral and the partner's registration may
    then be credited again should the customer sign another deal, and a referral is
    credited at once to a signed deal the friend holds already."""
    from django.conf import settings
    from django.utils import translation
    from django.utils.translation import gettext

    from marketing.models import Commission, Referral, ReferralReward
    from marketing.point_sources import referral_award_keys
    from marketing.services.club import points_take_back
    from marketing.services.payouts import payouts_withdraw

    payouts_withdraw(
        actor=actor, payouts=Commission.objects.filter(opportunity=opportunity)
    )
    rewards = ReferralReward.objects.filter(referral__opportunity=opportunity)
    withdrawn = payouts_withdraw(actor=actor, payouts=rewards)
    if withdrawn:
        Referral.objects.filter(opportunity=opportunity).update(opportunity=None)
        # Kept on the ledger in the site's language: owners read it in the portal.
        with translation.override(settings.LANGUAGE_CODE):
            reason = gettext("The referred friend's contract was cancelled.")
        points_take_back(
            actor=actor,
            keys=[
                key
                for pk, reward in withdrawn.items()
                for key in referral_award_keys(reward.referral_id, pk)
            ],
            reason=reason,
        )
        _credit_another_signed_deal(
            referral_ids=[reward.referral_id for reward in withdrawn.values()],
            cancelled=opportunity,
            actor=actor,
        )


def _credit_another_signed_deal(*, referral_ids, cancelled, actor) -> None:
    """A friend may hold another signed deal the referral matches (a referral
    without a project, deals at two projects): the reward becomes due on it, or
    nothing would ever make it due again (it is made due on a contract)."""
    from marketing.models import Referral
    from marketing.services.referrals import reward_on_contract
    from sales.models import Opportunity

    signed = (Opportunity.Stage.CONTRACTED, Opportunity.Stage.PAID)
    for referral in Referral.objects.filter(pk__in=referral_ids).order_by("pk"):
        deals = Opportunity.objects.filter(
            customer_id=referral.friend_id, stage__in=signed
        ).exclude(pk=cancelled.pk)
        if referral.project_id is not None:
            deals = deals.filter(project_id=referral.project_id)
        other = deals.order_by("created_at", "pk").first()
        if other is not None:
            reward_on_contract(opportunity=other, actor=actor)


def connect() -> None:
    from sales.signals import deal_cancelled, deal_contracted

    deal_contracted.connect(
        on_deal_contracted, dispatch_uid="marketing.on_deal_contracted"
    )
    deal_cancelled.connect(
        on_deal_cancelled, dispatch_uid="marketing.on_deal_cancelled"
    )
