"""Sales models, one module per area; Django finds them all through this package."""

from __future__ import annotations

from sales.models.aftersale import (
    ChangeRule,
    Commission,
    CommissionRule,
    DealRefund,
)
from sales.models.deals import (
    CoBuyer,
    DealChange,
    Opportunity,
    StageChange,
    UnitHold,
)
from sales.models.facts import DealFact, StageDuration
from sales.models.inventory import Building, PriceChange, Project, SalesAccess, Unit
from sales.models.money import DiscountRequest, PaymentItem, Receipt
from sales.models.opening import (
    DepositRefund,
    IntentDeposit,
    Selection,
    SelectionSession,
    SessionEntry,
    SessionUnit,
)
from sales.models.opening_notices import SessionOrderNotice
from sales.models.ownership import OwnershipEvent, ProtectionRule, Registration
from sales.models.reminders import FollowUpDigest, FollowUpEscalation

__all__ = [
    "Building",
    "ChangeRule",
    "CoBuyer",
    "Commission",
    "CommissionRule",
    "DealChange",
    "DealFact",
    "DealRefund",
    "DepositRefund",
    "DiscountRequest",
    "FollowUpDigest",
    "FollowUpEscalation",
    "IntentDeposit",
    "Opportunity",
    "OwnershipEvent",
    "PaymentItem",
    "PriceChange",
    "Project",
    "ProtectionRule",
    "Receipt",
    "Registration",
    "SalesAccess",
    "Selection",
    "SelectionSession",
    "SessionEntry",
    "SessionOrderNotice",
    "SessionUnit",
    "StageChange",
    "StageDuration",
    "Unit",
    "UnitHold",
]
