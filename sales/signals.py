"""Signals sales sends so other apps can follow a deal in their own code.

deal_contracted(sender=Opportunity, opportunity, actor): a deal has just moved to
"contract signed". Sent inside the transaction that moved it, so what a receiver writes
(a referral reward, a partner commission) is committed with the contract or not at all.
Receivers must be idempotent: a deal is contracted once, but a receiver may be asked
again by a repair job.

deal_cancelled(sender=Opportunity, opportunity, actor): a subscribed, contracted or
paid deal was cancelled (退房, approved). Sent inside that transaction; what the deal
earned elsewhere and is not yet paid (a partner's commission, a referral reward) is
withdrawn by its receivers.

deal_buyer_changed(sender=Opportunity, opportunity, old_customer, actor): a deal's
buyer was replaced (更名, approved); ``opportunity.customer`` is the new buyer. Sent
inside that transaction; what was made for the former buyer as the unit's owner (a
handover appointment) follows the new one. Receivers must be idempotent.

deal_unit_changed(sender=Opportunity, opportunity, old_unit, actor): a deal moved to
another unit (换房, approved); ``opportunity.unit`` is the new one. Sent inside that
transaction; what was made for the buyer as the old unit's owner (a handover
appointment) ends, so the old unit's next buyer can be invited. Idempotent.
"""

from __future__ import annotations

from django.dispatch import Signal

deal_contracted = Signal()
deal_cancelled = Signal()
deal_buyer_changed = Signal()
deal_unit_changed = Signal()
