"""What the customers app writes on a timeline, as events (crm_site.events)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm_site import events

CONTACT_WITHOUT_NOTES = events.register(
    "customers.contact",
    _("%(kind)s, no notes"),
    # Walk-ins registered without notes once stored the kind's name alone.
    legacy=("%(kind)s",),
    kind=events.Choice("customers.Interaction", "kind"),
)
MERGED = events.register(
    "customers.merged",
    _(
        "Merged duplicate customer %(absorbed)s into this one (%(count)s records moved)."
    ),
    absorbed=events.Text(),
    count=events.Number(),
)
MERGE_UNDONE = events.register(
    "customers.merge_undone",
    _("Merge undone: %(absorbed)s is a separate customer again."),
    absorbed=events.Text(),
)
RESTORED = events.register(
    "customers.restored",
    _("Restored from the merge into %(survivor)s."),
    survivor=events.Text(),
)
# The owners' portal (customers.services.portal): who signed in, and wrong codes.
PORTAL_SIGNED_IN = events.register(
    "customers.portal_signed_in",
    _("Signed in to the owner portal."),
)
PORTAL_SIGNED_IN_REMEMBERED = events.register(
    "customers.portal_signed_in_remembered",
    _("Signed in to the owner portal; this device is remembered for 30 days."),
)
PORTAL_SIGN_IN_FAILED = events.register(
    "customers.portal_sign_in_failed",
    _("A wrong or expired sign-in code was entered for the owner portal."),
)
PORTAL_LOCKED = events.register(
    "customers.portal_locked",
    _("Owner portal sign-in locked after repeated wrong codes."),
)
# The screen pop (customers.services.telephony): a call on the hotline, once it ended.
CALL_TAKEN = events.register(
    "customers.call_taken",
    _("Incoming call taken at extension %(extension)s, %(seconds)s s"),
    extension=events.Text(),
    seconds=events.Number(),
)
CALL_MISSED = events.register(
    "customers.call_missed",
    _("Missed call: rang at extension %(extension)s, not answered"),
    extension=events.Text(),
)
