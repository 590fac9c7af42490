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
    then be credited again should the customer sign another deal."""
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


def connect() -> None:
    from sales.signals import deal_cancelled, deal_contracted

    deal_contracted.connect(
        on_deal_contracted, dispatch_uid="marketing.on_deal_contracted"
    )
    deal_cancelled.connect(
        on_deal_cancelled, dispatch_uid="marketing.on_deal_cancelled"
    )
