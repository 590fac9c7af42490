"""What marketing does when sales tells it something (see sales.signals)."""

from __future__ import annotations


def on_deal_contracted(sender, *, opportunity, actor=None, **kwargs) -> None:
    """A contract makes the referral reward and the partner commission due."""
    from marketing.services.partners import commission_on_contract
    from marketing.services.referrals import reward_on_contract

    reward_on_contract(opportunity=opportunity, actor=actor)
    commission_on_contract(opportunity=opportunity, actor=actor)


def connect() -> None:
    from sales.signals import deal_contracted

    deal_contracted.connect(
        on_deal_contracted, dispatch_uid="marketing.on_deal_contracted"
    )
