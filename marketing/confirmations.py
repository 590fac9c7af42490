"""What a campaign action says before it acts (crm_site.confirm) and after it acted.

Sending invitations reaches customers and cannot be taken back; cancelling ends a
campaign for good. The confirmation counts the recipients with the send's own filter
(marketing.selectors.invitations_preview), so the number asked is the number queued.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db.models import Count
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm_site.confirm import Confirmation, keyed
from crm_site.templatetags.money import yuan
from marketing.models import Campaign, Invitation
from marketing.selectors import CampaignReturn, Progress, SendPreview


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def _minutes(messages: int) -> int:
    return max(1, math.ceil(messages / max(1, settings.MARKETING_SEND_PER_MINUTE)))


def send(campaign: Campaign, preview: SendPreview) -> Confirmation:
    facts = [
        (_("Campaign"), campaign.name),
        (_("Members"), _n(preview.members)),
        (_("Customers who receive it"), _n(preview.customers)),
    ]
    for channel, count in preview.by_channel.items():
        facts.append(
            (
                _("Messages by %(channel)s")
                % {"channel": Invitation.Channel(channel).label},
                _n(count),
            )
        )
    facts += [
        (
            _("Not invited now"),
            _n(preview.members - preview.customers)
            + " · "
            + _("no consent to the channel, no address, or invited already"),
        ),
        (
            _("Sending rate"),
            _("up to %(rate)s a minute: about %(minutes)s min")
            % {
                "rate": _n(settings.MARKETING_SEND_PER_MINUTE),
                "minutes": _n(_minutes(preview.messages)),
            },
        ),
    ]
    warnings = []
    if not preview.messages:
        warnings.append(
            _("Nobody is left to invite: every member was invited or cannot be.")
        )
    return keyed(
        Confirmation(
            title=ngettext(
                "Send %(count)s invitation?",
                "Send %(count)s invitations?",
                preview.messages,
            )
            % {"count": _n(preview.messages)},
            facts=facts,
            consequence=_(
                "Each of these customers gets the invitation with their own sign-up "
                "and unsubscribe links. A message sent cannot be taken back."
            ),
            action=_("Send invitations"),
            warnings=warnings,
        ),
        "send",
    )


def sent(*, added: int, preview: SendPreview) -> str:
    if not added:
        return _("No invitation queued: every member was invited already or cannot be.")
    values = {
        "count": _n(added),
        "customers": _n(preview.customers),
        "minutes": _n(_minutes(added)),
    }
    if added == preview.messages:
        text = ngettext(
            "%(count)s invitation queued for %(customers)s customers.",
            "%(count)s invitations queued for %(customers)s customers.",
            added,
        )
    else:
        text = ngettext(
            "%(count)s invitation queued.", "%(count)s invitations queued.", added
        )
    return (
        text % values
        + " "
        + _(
            "They go out within about %(minutes)s min; the progress below counts "
            "them as they are sent."
        )
        % values
    )


def cancel(
    campaign: Campaign, *, progress: Progress, figures: CampaignReturn
) -> Confirmation:
    queued = progress.counts.get(Invitation.Status.PENDING, 0)
    return keyed(
        Confirmation(
            title=_("Cancel the campaign %(name)s?") % {"name": campaign.name},
            facts=[
                (_("Campaign"), campaign.name),
                (_("Status"), campaign.get_status_display()),
                (_("Members"), _n(figures.members)),
                (
                    _("Invitations sent"),
                    _n(progress.counts.get(Invitation.Status.SENT, 0)),
                ),
                (_("Invitations still queued"), _n(queued)),
                (_("Cost so far"), yuan(figures.cost, 2)),
            ],
            consequence=ngettext(
                "The campaign ends for good: it cannot be edited, started or sent "
                "again, and the %(count)s invitation still queued is not sent. Its "
                "costs and results stay.",
                "The campaign ends for good: it cannot be edited, started or sent "
                "again, and the %(count)s invitations still queued are not sent. Its "
                "costs and results stay.",
                queued,
            )
            % {"count": _n(queued)},
            action=_("Cancel campaign"),
            danger=True,
        ),
        "cancel",
    )


def cancelled(campaign: Campaign) -> str:
    counts = dict(
        campaign.invitations.filter(
            status__in=(Invitation.Status.WITHDRAWN, Invitation.Status.SENT)
        )
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return _(
        "Campaign %(name)s cancelled: %(withdrawn)s queued invitations withdrawn, "
        "%(sent)s had been sent. Its costs and results stay on this page."
    ) % {
        "name": campaign.name,
        "withdrawn": _n(counts.get(Invitation.Status.WITHDRAWN, 0)),
        "sent": _n(counts.get(Invitation.Status.SENT, 0)),
    }
