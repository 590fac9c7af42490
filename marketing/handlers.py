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
    while unpaid, are withdrawn; the referral and the partner's registration may then
    be credited again should the customer sign another deal."""
    from marketing.models import Commission, Referral, ReferralReward
    from marketing.services.payouts import payouts_withdraw

    payouts_withdraw(
        actor=actor, payouts=Commission.objects.filter(opportunity=opportunity)
    )
    rewards = ReferralReward.objects.filter(referral__opportunity=opportunity)
    if payouts_withdraw(actor=actor, payouts=rewards):
        Referral.objects.filter(opportunity=opportunity).update(opportunity=None)


def connect() -> None:
    from sales.signals import deal_cancelled, deal_contracted

    deal_contracted.connect(
        on_deal_contracted, dispatch_uid="marketing.on_deal_contracted"
    )
    deal_cancelled.connect(
        on_deal_cancelled, dispatch_uid="marketing.on_deal_cancelled"
    )
