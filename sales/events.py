"""What the sales app writes on timelines, deal steps and notifications, as events
(crm_site.events). Imported by SalesConfig.ready()."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site import events

STAGE = events.Choice("sales.Opportunity", "stage")

# Timeline entries -------------------------------------------------------------------

DEAL_OPENED = events.register(
    "sales.deal_opened", _("Deal opened at %(project)s"), project=events.Text()
)
DEAL_STAGE = events.register(
    "sales.deal_stage",
    _("Deal %(project)s: %(old)s → %(new)s"),
    project=events.Text(),
    old=STAGE,
    new=STAGE,
)
# A stage change the system made for a reason of its own (a hold expired...).
DEAL_STAGE_BECAUSE = events.register(
    "sales.deal_stage_because",
    _("Deal %(project)s: %(old)s → %(new)s · %(reason)s"),
    project=events.Text(),
    old=STAGE,
    new=STAGE,
    reason=events.Nested(),
)
DISCOUNT = events.register(
    "sales.discount",
    _("Discount %(percent)s%% on unit %(unit)s: %(price)s"),
    percent=events.Number(),
    unit=events.Text(),
    price=events.Money(),
    legacy=(
        "Discount %(percent)s%% on unit %(unit)s: ¥%(price)s",
        "房源 %(unit)s 折扣 %(percent)s%%：¥%(price)s",
    ),
)
UNIT_CHANGED = events.register(
    "sales.unit_changed",
    _("Unit changed from %(old)s to %(new)s"),
    old=events.Text(),
    new=events.Text(),
)
BUYER_CHANGED = events.register(
    "sales.buyer_changed",
    _("Buyer of unit %(unit)s changed from %(old)s to %(new)s"),
    unit=events.Text(),
    old=events.Text(),
    new=events.Text(),
)

# Why the system moved a deal (a stage change's reason) -------------------------------

UNIT_HELD = events.register(
    "sales.unit_held",
    _("Unit %(unit)s held until %(until)s"),
    unit=events.Text(),
    until=events.DateTime(),
)
HOLD_EXPIRED = events.register(
    "sales.hold_expired", _("Hold on unit %(unit)s expired"), unit=events.Text()
)
UNIT_RELEASED = events.register(
    "sales.unit_released", _("Unit %(unit)s released"), unit=events.Text()
)
PAID_IN_FULL = events.register("sales.paid_in_full", _("All payments received"))
# The consultant's reason for the cancellation is the stage change's note.
SUBSCRIPTION_CANCELLED = events.register(
    "sales.subscription_cancelled",
    _("Subscription cancelled"),
    legacy=("Subscription cancelled: %(_note)s", "认购已取消：%(_note)s"),
)

# Opening day (sales.services.opening): the deposit of intent brought the buyer in,
# and the unit was chosen in a selection session.
DEPOSIT_OF_INTENT = events.register(
    "sales.deposit_of_intent",
    _("Deposit of intent %(receipt)s, queue number %(number)s"),
    receipt=events.Text(),
    number=events.Number(),
)
UNIT_SELECTED = events.register(
    "sales.unit_selected",
    _("Unit %(unit)s chosen at %(session)s"),
    unit=events.Text(),
    session=events.Text(),
)

# Notifications ----------------------------------------------------------------------

HOLD_EXPIRED_NOTICE = events.register(
    "sales.hold_expired_notice",
    _(
        "The hold on unit %(unit)s for %(customer)s has expired; the unit is on sale again."
    ),
    unit=events.Text(),
    customer=events.Text(),
)
DISCOUNT_ASKED = events.register(
    "sales.discount_asked",
    _("%(who)s asks a %(percent)s%% discount for %(customer)s."),
    who=events.Text(),
    percent=events.Number(),
    customer=events.Text(),
)
DISCOUNT_APPROVED = events.register(
    "sales.discount_approved",
    _("Discount approved: %(customer)s"),
    customer=events.Text(),
)
DISCOUNT_REJECTED = events.register(
    "sales.discount_rejected",
    _("Discount rejected: %(customer)s"),
    customer=events.Text(),
)
CHANGE_ASKED = events.register(
    "sales.change_asked",
    _("%(who)s asks to change a subscribed deal: %(kind)s (%(customer)s)."),
    who=events.Text(),
    kind=events.Choice("sales.DealChange", "kind"),
    customer=events.Text(),
)
CHANGE_REFUSED = events.register(
    "sales.change_refused",
    _("Change refused: %(customer)s"),
    customer=events.Text(),
)
CHANGE_APPROVED = events.register(
    "sales.change_approved",
    _("Change approved: %(kind)s"),
    kind=events.Choice("sales.DealChange", "kind"),
)
CUSTOMER_PROTECTED = events.register(
    "sales.customer_protected",
    _(
        "%(customer)s is protected at %(project)s by %(owner)s until %(until)s; your contact was logged but the customer stays theirs."
    ),
    customer=events.Text(),
    project=events.Text(),
    owner=events.Text(),
    until=events.Date(),
)
POOL_RETURNED = events.register(
    "sales.pool_returned",
    _("%(count)s of your customers returned to the public pool: protection lapsed."),
    count=events.Number(),
)
POOL_WARNING = events.register(
    "sales.pool_warning",
    _(
        "%(count)s of your customers return to the pool from %(day)s unless you follow up."
    ),
    count=events.Number(),
    day=events.Date(),
)
HANDED_TO_SALES_OFFICE = events.register(
    "sales.handed_to_sales_office",
    _("%(customer)s was handed over to the sales office."),
    customer=events.Text(),
)
# The manager's reason is the notification's message, after the words.
REASSIGNED = events.register(
    "sales.reassigned",
    _("%(customer)s was reassigned to %(to)s"),
    customer=events.Text(),
    to=events.Text(),
    legacy=(
        "%(customer)s was reassigned to %(to)s: %(_note)s",
        "%(customer)s 已转派给 %(to)s：%(_note)s",
    ),
)
MERGE_REGISTRATION_ENDED = events.register(
    "sales.merge_registration_ended",
    _(
        "%(absorbed)s was merged into %(survivor)s. Your registration "
        "ended where an earlier protection wins: %(projects)s."
    ),
    absorbed=events.Text(),
    survivor=events.Text(),
    projects=events.Text(limit=250),
)
MERGE_PROTECTION_CONTINUES = events.register(
    "sales.merge_protection_continues",
    _(
        "%(absorbed)s was merged into %(survivor)s; your protection at "
        "%(projects)s continues on %(survivor)s."
    ),
    absorbed=events.Text(),
    survivor=events.Text(),
    projects=events.Text(limit=250),
)
MERGE_UNDONE_PROTECTION = events.register(
    "sales.merge_undone_protection",
    _(
        "The merge of %(absorbed)s into %(survivor)s was undone; your "
        "protection of %(customer)s at %(projects)s is as it was."
    ),
    absorbed=events.Text(),
    survivor=events.Text(),
    customer=events.Text(),
    projects=events.Text(limit=250),
)
# A channel partner's broker is told only the name they gave (never the CRM's
# records or which consultant holds the customer).
PROTECTION_RESTORED = events.register(
    "sales.protection_restored",
    _("Your registration of %(customer)s at %(projects)s is protected again."),
    customer=events.Text(),
    projects=events.Text(limit=250),
)
FOLLOW_UPS_OVERDUE = events.register(
    "sales.follow_ups_overdue",
    _("%(count)s follow-ups of your team are overdue by more than %(days)s days."),
    count=events.Number(),
    days=events.Number(),
)
FOLLOW_UP_DIGEST = events.register(
    "sales.follow_up_digest",
    _(
        "Today: %(due)s follow-ups due, %(overdue)s overdue, %(lapsing)s customers about to return to the pool."
    ),
    due=events.Number(),
    overdue=events.Number(),
    lapsing=events.Number(),
)

# Why an ownership decision was made (OwnershipEvent.event) ---------------------------

PROTECTED_BY = events.register(
    "sales.protected_by",
    _("Protected by %(owner)s until %(until)s"),
    owner=events.Text(),
    until=events.Date(),
)
REGISTERED_UNDER_RULE = events.register(
    "sales.registered_under_rule",
    _("%(basis)s under rule v%(version)s: %(days)s days"),
    basis=events.Choice("sales.Registration", "basis"),
    version=events.Text(),
    days=events.Number(),
)
RENEWED_BY_CONTACT = events.register(
    "sales.renewed_by_contact",
    _("%(kind)s on %(day)s"),
    kind=events.Choice("customers.Interaction", "kind"),
    day=events.Date(),
)
NO_FOLLOW_UP = events.register(
    "sales.no_follow_up", _("No follow-up within the protection period")
)
MERGE_CAME_WITH = events.register(
    "sales.merge_came_with",
    _("Came with %(absorbed)s, merged into this customer"),
    absorbed=events.Text(),
)
MERGE_WINS = events.register(
    "sales.merge_wins",
    _(
        "Merge of %(absorbed)s: protection since %(day)s wins over "
        "%(other)s's from %(other_day)s"
    ),
    absorbed=events.Text(),
    day=events.Date(),
    other=events.Text(),
    other_day=events.Date(),
)
MERGE_LOSES = events.register(
    "sales.merge_loses",
    _("Merge of %(absorbed)s: %(owner)s's protection since %(day)s is earlier"),
    absorbed=events.Text(),
    owner=events.Text(),
    day=events.Date(),
)
MERGE_UNDONE_NOT_PROTECTED = events.register(
    "sales.merge_undone_not_protected",
    _(
        "Merge undone; not protected again: another registration protects "
        "the customer at this project since"
    ),
)
MERGE_UNDONE_PROTECTED_AGAIN = events.register(
    "sales.merge_undone_protected_again",
    _("Merge undone: protected again until %(until)s"),
    until=events.Date(),
)
MERGE_UNDONE_BACK_WITH = events.register(
    "sales.merge_undone_back_with",
    _("Merge undone: back with %(customer)s"),
    customer=events.Text(),
)

# Deposits of intent and the order of a selection session (deposits helper, issue 16) --

DEPOSIT_TAKEN = events.register(
    "sales.deposit_taken",
    _("Deposit of intent %(amount)s for %(project)s, queue number %(number)s"),
    amount=events.Money(),
    project=events.Text(),
    number=events.Number(),
)
DEPOSIT_QUALIFICATION = events.register(
    "sales.deposit_qualification",
    _("Purchase qualification for %(project)s: %(result)s"),
    project=events.Text(),
    result=events.Choice("sales.IntentDeposit", "qualification"),
)
DEPOSIT_REFUNDED = events.register(
    "sales.deposit_refunded",
    _("Deposit of intent %(receipt)s refunded: %(amount)s"),
    receipt=events.Text(),
    amount=events.Money(),
)
DEPOSIT_REFUND_ASKED = events.register(
    "sales.deposit_refund_asked",
    _("%(who)s asks to refund the deposit of intent of %(customer)s (%(amount)s)."),
    who=events.Text(),
    customer=events.Text(),
    amount=events.Money(),
)
SESSION_REFUNDS_ASKED = events.register(
    "sales.session_refunds_asked",
    _(
        "%(who)s closed %(session)s: unused deposits of intent to refund, waiting "
        "for approval: %(count)s."
    ),
    who=events.Text(),
    session=events.Text(),
    count=events.Number(),
)
DEPOSIT_REFUND_APPROVED = events.register(
    "sales.deposit_refund_approved",
    _("Refund of the deposit of intent approved: %(customer)s"),
    customer=events.Text(),
)
DEPOSIT_REFUND_REJECTED = events.register(
    "sales.deposit_refund_rejected",
    _("Refund of the deposit of intent refused: %(customer)s"),
    customer=events.Text(),
)
SESSION_POSITION = events.register(
    "sales.session_position",
    _("%(session)s: position %(position)s, time slot from %(slot)s"),
    session=events.Text(),
    position=events.Number(),
    slot=events.DateTime(),
)

# The sale after contract (aftersale helper, issue 16): approved changes of a signed
# deal, their refunds, and commission.

CONTRACT_CANCELLED = events.register(
    "sales.contract_cancelled",
    _(
        "Contract cancelled: %(received)s received, %(forfeit)s forfeited, %(refund)s to refund"
    ),
    received=events.Money(),
    forfeit=events.Money(),
    refund=events.Money(),
)
REFUND_DUE = events.register(
    "sales.refund_due",
    _("Refund of %(amount)s due for unit %(unit)s (%(forfeit)s forfeited)"),
    amount=events.Money(),
    unit=events.Text(),
    forfeit=events.Money(),
)
REFUND_PAID = events.register(
    "sales.refund_paid",
    _("Refund of %(amount)s paid back"),
    amount=events.Money(),
)
UNIT_CHANGED_REPRICED = events.register(
    "sales.unit_changed_repriced",
    _(
        "Unit changed from %(old)s to %(new)s: price %(price)s, %(received)s "
        "received counts against it"
    ),
    old=events.Text(),
    new=events.Text(),
    price=events.Money(),
    received=events.Money(),
)
CHANGE_FEE = events.register(
    "sales.change_fee",
    _("Fee for the change: %(fee)s"),
    fee=events.Money(),
)
COMMISSION_ACCRUED = events.register(
    "sales.commission_accrued",
    _("Commission of %(amount)s accrued for %(who)s"),
    amount=events.Money(),
    who=events.Text(),
)
# Written by cancellations before clawback lines (kept to show those entries).
COMMISSION_CLAWED_BACK = events.register(
    "sales.commission_clawed_back",
    _("Commission of %(amount)s of %(who)s clawed back: the deal was cancelled"),
    amount=events.Money(),
    who=events.Text(),
)
# A paid commission of a cancelled deal: a negative line in the next settlement.
COMMISSION_CLAWBACK_DUE = events.register(
    "sales.commission_clawback_due",
    _(
        "Commission of %(amount)s paid to %(who)s is taken back in the next "
        "settlement: the deal was cancelled"
    ),
    amount=events.Money(),
    who=events.Text(),
)
COMMISSION_VOIDED = events.register(
    "sales.commission_voided",
    _(
        "Commission of %(amount)s of %(who)s voided: the deal was cancelled before "
        "it was paid"
    ),
    amount=events.Money(),
    who=events.Text(),
)
# A clawback line a sales manager wrote off (核销): it will not be recovered. The
# reason is the manager's own words.
COMMISSION_CLAWBACK_WAIVED = events.register(
    "sales.commission_clawback_waived",
    _(
        "Clawback of %(amount)s from %(who)s written off, it will not be recovered: "
        "%(reason)s"
    ),
    amount=events.Money(),
    who=events.Text(),
    reason=events.Text(),
)
CHANGE_ASKED_SIGNED = events.register(
    "sales.change_asked_signed",
    _("%(who)s asks to change a signed deal: %(kind)s (%(customer)s)."),
    who=events.Text(),
    kind=events.Choice("sales.DealChange", "kind"),
    customer=events.Text(),
)
