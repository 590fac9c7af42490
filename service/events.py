"""What the service app writes on timelines, request steps and notifications, as
events (crm_site.events). Imported by ServiceConfig.ready()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from crm_site import events

KIND = events.Choice("service.ServiceRequest", "kind")
STATUS = events.Choice("service.ServiceRequest", "status")
DEPARTMENT = events.Choice("service.ServiceRequest", "department")


@dataclass(frozen=True)
class Assignee(events.Param):
    """Who does the work: a department (kept as its code, shown by its label) or a
    crew's or contractor's name (kept as written). Stored as {"department": code} or
    {"name": name}; see assignee_of()."""

    def store(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return {"name": "" if value is None else str(value)[:200]}
        return value

    def show(self, value: Any) -> str:
        if isinstance(value, dict) and value.get("department"):
            return DEPARTMENT.show(value["department"])
        if isinstance(value, dict):
            return value.get("name") or events.MISSING
        return str(value) if value else events.MISSING


def assignee_of(work_order: Any) -> dict[str, str]:
    """The Assignee value of a work order: its contractor's or crew's name, or its
    department's code."""
    if work_order.assignee_kind in ("contractor", "crew"):
        return {"name": work_order.assignee_label}
    return {"department": work_order.department}


# Timeline entries -------------------------------------------------------------------

# The owner's words (the description) are the entry's note.
REQUEST_RECORDED = events.register(
    "service.request_recorded",
    _("%(kind)s %(number)s recorded"),
    kind=KIND,
    number=events.Text(),
    legacy=("%(kind)s %(number)s: %(_note)s",),
)
STATUS_CHANGED = events.register(
    "service.status_changed",
    _("%(kind)s %(number)s: %(old)s → %(new)s"),
    kind=KIND,
    number=events.Text(),
    old=STATUS,
    new=STATUS,
)
# A status change with a reason of the system's (handed to a department...).
STATUS_CHANGED_BECAUSE = events.register(
    "service.status_changed_because",
    _("%(kind)s %(number)s: %(old)s → %(new)s · %(reason)s"),
    kind=KIND,
    number=events.Text(),
    old=STATUS,
    new=STATUS,
    reason=events.Nested(),
)
# A work order's step (one of the WORK_ORDER_* entries below) on the owner's timeline.
WORK_ORDER_STEP = events.register(
    "service.work_order_step",
    _("%(kind)s %(number)s: %(step)s"),
    kind=KIND,
    number=events.Text(),
    step=events.Nested(),
)
HANDOVER_BOOKED = events.register(
    "service.handover_booked",
    _("Handover appointment for %(unit)s: %(slot)s"),
    unit=events.Text(),
    slot=events.Text(),
)
HANDED_OVER = events.register(
    "service.handed_over",
    _("Unit %(unit)s handed over on %(day)s"),
    unit=events.Text(),
    day=events.Date(),
)
# The owner's comment is the entry's note.
SURVEY_ANSWERED = events.register(
    "service.survey_answered",
    _("Satisfaction survey answered: index %(index)s"),
    index=events.Number(),
)

# The owner's own acts in the owners' portal (issue 14). The owner's words (the
# description, the letter, the reason for rejecting) are the entry's note.
PORTAL_REQUEST_SUBMITTED = events.register(
    "service.portal_request_submitted",
    _("%(kind)s %(number)s submitted by the owner in the portal"),
    kind=KIND,
    number=events.Text(),
)
LETTER_WRITTEN = events.register(
    "service.letter_written",
    _("Letter %(number)s to the general manager: %(subject)s"),
    number=events.Text(),
    subject=events.Text(),
)
LETTER_ANSWERED = events.register(
    "service.letter_answered",
    _("Letter %(number)s to the general manager answered by %(who)s"),
    number=events.Text(),
    who=events.Text(),
)

# Steps of a request (ServiceStep.event) ----------------------------------------------

ACCEPTED = events.register(
    "service.accepted", _("Accepted by %(who)s, its first receiver"), who=events.Text()
)
# Why a portal request moved when the owner moved it.
OWNER_REJECTED_FIX = events.register(
    "service.owner_rejected_fix", _("The owner rejected the fix in the portal")
)
OWNER_CONFIRMED_FIX = events.register(
    "service.owner_confirmed_fix", _("The owner confirmed the fix in the portal")
)
RATED = events.register(
    "service.rated", _("Rated by the owner: index %(index)s"), index=events.Number()
)

HANDED_TO = events.register("service.handed_to", _("Handed to %(who)s"), who=Assignee())
PHOTOS_ADDED = events.register(
    "service.photos_added",
    _("Photos added: %(count)s"),
    count=events.Number(),
    legacy=(
        "%(count)s photo added",
        "%(count)s photos added",
        "已添加 %(count)s 张照片",
    ),
)
# The owner's words at the callback are the step's note.
OWNER_NOT_SATISFIED = events.register(
    "service.owner_not_satisfied",
    _("Owner not satisfied"),
    legacy=("Owner not satisfied: %(_note)s", "业主不满意：%(_note)s"),
)
# Which knowledge-base article the desk said the request was handled with.
ARTICLE_LINKED = events.register(
    "service.article_linked",
    _("Knowledge-base article linked: %(title)s"),
    title=events.Text(),
)
ARTICLE_UNLINKED = events.register(
    "service.article_unlinked",
    _("Knowledge-base article unlinked: %(title)s"),
    title=events.Text(),
)
WORK_ORDER_CREATED = events.register(
    "service.work_order_created",
    _("Work order WO%(pk)s to %(who)s: %(task)s"),
    pk=events.Text(),
    who=Assignee(),
    task=events.Text(),
)
WORK_ORDER_SCHEDULED = events.register(
    "service.work_order_scheduled",
    _("Work order WO%(pk)s: %(who)s comes on %(when)s"),
    pk=events.Text(),
    who=Assignee(),
    when=events.DateTime(),
)
# What was found on site, and why a work order was cancelled, are the step's note.
WORK_ORDER_SIGNED_OFF = events.register(
    "service.work_order_signed_off",
    _("Work order WO%(pk)s signed off"),
    pk=events.Text(),
    legacy=(
        "Work order WO%(pk)s signed off: %(_note)s",
        "派工单 WO%(pk)s 已验收：%(_note)s",
    ),
)
WORK_ORDER_CANCELLED = events.register(
    "service.work_order_cancelled",
    _("Work order WO%(pk)s cancelled"),
    pk=events.Text(),
    legacy=(
        "Work order WO%(pk)s cancelled: %(_note)s",
        "派工单 WO%(pk)s 已取消：%(_note)s",
    ),
)

# Notifications ----------------------------------------------------------------------

HANDED_TO_YOU = events.register(
    "service.handed_to_you",
    _("Service request %(number)s was handed to you."),
    number=events.Text(),
)
REOPENED_FOR_YOU = events.register(
    "service.reopened_for_you",
    _("Request %(number)s is reopened: the owner is not satisfied with the fix."),
    number=events.Text(),
)
RESOLVED_CALL_BACK = events.register(
    "service.resolved_call_back",
    _("Request %(number)s is resolved: call the owner back."),
    number=events.Text(),
)
LETTER_RECEIVED = events.register(
    "service.letter_received",
    _("A letter to the general manager (%(number)s): %(subject)s"),
    number=events.Text(),
    subject=events.Text(),
)
LETTER_OVERDUE = events.register(
    "service.letter_overdue",
    _("Letter %(number)s to the general manager is past its deadline: answer it."),
    number=events.Text(),
)
ESCALATED = events.register(
    "service.escalated",
    _("Escalated (%(level)s): %(number)s — %(reason)s"),
    level=events.Choice("service.Escalation", "level"),
    number=events.Text(),
    reason=events.Choice("service.Escalation", "reason"),
)
