"""What closing a service request says before it acts (crm_site.confirm) and after.

Closing ends the first receiver's accountability and sends the owner the
satisfaction survey: the confirmation says whose request, what the callback found
and whether (and how) the survey reaches the owner (service.outreach.pick_channel,
the channel the survey will use).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from crm_site.confirm import Confirmation, keyed
from customers.models import Channel
from service.models import ServiceRequest
from service.outreach import pick_channel


def _survey_channel(item: ServiceRequest) -> str | None:
    target = pick_channel(item.customer)
    return Channel(target[0]).label if target else None


def close(item: ServiceRequest) -> Confirmation:
    channel = _survey_channel(item)
    callback = _("owner satisfied") if item.satisfied else _("owner not satisfied")
    if item.callback_note:
        callback = f"{callback} · {item.callback_note}"
    return keyed(
        Confirmation(
            title=_("Close request %(number)s?") % {"number": item.number},
            facts=[
                (
                    _("Request"),
                    f"{item.number} · {item.get_kind_display()} · "
                    f"{item.get_category_display()}",
                ),
                (_("Owner"), item.customer.name),
                (_("Unit"), str(item.unit) if item.unit else "—"),
                (_("Callback"), callback),
                (_("Accountable receiver"), item.receiver.display_name),
                (
                    _("Satisfaction survey"),
                    _("sent by %(channel)s") % {"channel": channel}
                    if channel
                    else _("none: the owner cannot be reached for service matters"),
                ),
            ],
            consequence=_(
                "The request is closed for good: it cannot be reopened, and the "
                "receiver's accountability for it ends."
            ),
            action=_("Close the request"),
        ),
        "close",
    )


def closed(item: ServiceRequest) -> str:
    channel = _survey_channel(item)
    values = {"number": item.number, "owner": item.customer.name, "channel": channel}
    if channel:
        return (
            _(
                "Request %(number)s closed. The satisfaction survey goes to %(owner)s "
                "by %(channel)s shortly; the answer shows in the satisfaction results."
            )
            % values
        )
    return (
        _(
            "Request %(number)s closed. No survey is sent: %(owner)s cannot be reached "
            "for service matters."
        )
        % values
    )
