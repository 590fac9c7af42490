"""Invitations: an outbox row per member and channel, sent by a Celery job.

Queueing writes the rows in one INSERT ... SELECT per channel (only members who
consented to that channel and have an address). The sender claims one row at a time
(queued → sending, FOR UPDATE SKIP LOCKED), re-checks consent, hands the message to
the provider and marks it sent. A sender that crashes leaves at most the row it was
sending as 'sending'; a re-run claims only queued rows, so nobody gets a message
twice. The pump marks such interrupted rows failed after a while instead of guessing.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm_site import messaging
from crm_site.models import User
from customers.models import ConsentRecord, Customer, Interaction
from customers.services import consent_set, interaction_log
from marketing.models import Campaign, CampaignMember, Invitation

UNSUBSCRIBE_SALT = "marketing.unsubscribe"
SIGNUP_SALT = "marketing.signup"
# A row 'sending' for longer than this was interrupted: the provider may or may not
# have it, so it is marked failed rather than sent again.
STALE_SENDING = timedelta(minutes=10)
CHANNEL_CONSENT = {
    Invitation.Channel.EMAIL: ("consent_email", "email"),
    Invitation.Channel.SMS: ("consent_sms", "mobile"),
}


class InvitationsRefused(Exception):
    pass


def invitations_queue(*, actor: User, campaign: Campaign) -> int:
    """Write the outbox rows for a running campaign and queue the sender. Repeating
    it adds only members who had none (and nobody twice)."""
    from marketing import tasks

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != Campaign.Status.RUNNING:
            raise InvitationsRefused(_("Start the campaign before sending."))
        if not campaign.channels:
            raise InvitationsRefused(_("The campaign invites on no channel."))
        added = sum(_queue_channel(campaign, channel) for channel in campaign.channels)
        tasks.invitations_send.delay_on_commit(campaign.pk)
    return added


def _queue_channel(campaign: Campaign, channel: str) -> int:
    consent_field, address_field = CHANNEL_CONSENT[channel]
    members = CampaignMember.objects.filter(
        campaign=campaign,
        **{f"customer__{consent_field}": True},
    ).exclude(**{f"customer__{address_field}": ""})
    select_sql, params = members.values("pk").query.sql_with_params()
    table = connection.ops.quote_name(Invitation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, member_id, channel, status, "
            "created_at, message_id, error) "
            f"SELECT %s, picked.pk, %s, %s, %s, '', '' FROM ({select_sql}) AS picked (pk) "
            "ON CONFLICT (member_id, channel) DO NOTHING",
            [campaign.pk, channel, Invitation.Status.QUEUED, timezone.now(), *params],
        )
        return cursor.rowcount


def invitation_claim(*, campaign_id: int) -> int | None:
    """Take the next queued row for this sender (others skip it); None when done or
    when the campaign is no longer running."""
    with transaction.atomic():
        pk = (
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                campaign_id=campaign_id,
                status=Invitation.Status.QUEUED,
                campaign__status=Campaign.Status.RUNNING,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return None
        Invitation.objects.filter(pk=pk, status=Invitation.Status.QUEUED).update(
            status=Invitation.Status.SENDING, claimed_at=timezone.now()
        )
    return pk


def _finish(pk: int, status: str, **fields) -> None:
    Invitation.objects.filter(pk=pk, status=Invitation.Status.SENDING).update(
        status=status, **fields
    )


def invitation_deliver(*, invitation_id: int) -> str:
    """Send one claimed invitation, unless its member withdrew consent meanwhile."""
    invitation = Invitation.objects.select_related("campaign", "member").get(
        pk=invitation_id
    )
    if invitation.status != Invitation.Status.SENDING:
        return invitation.status
    customer = Customer.objects.get(pk=invitation.member.customer_id)
    consent_field, address_field = CHANNEL_CONSENT[invitation.channel]
    if not getattr(customer, consent_field) or not getattr(customer, address_field):
        _finish(invitation.pk, Invitation.Status.SKIPPED)
        return Invitation.Status.SKIPPED
    try:
        message_id = _send(invitation, customer)
    except messaging.SendFailed as exc:
        _finish(invitation.pk, Invitation.Status.FAILED, error=str(exc)[:300])
        return Invitation.Status.FAILED
    _finish(
        invitation.pk,
        Invitation.Status.SENT,
        sent_at=timezone.now(),
        message_id=message_id[:200],
    )
    # A one-way message, not a conversation: it must not count as the customer's last
    # contact nor clear the follow-up a consultant has planned.
    interaction_log(
        customer=customer,
        kind=Interaction.Kind.SYSTEM,
        channel=invitation.channel,
        summary=_("Invited to campaign %(campaign)s")
        % {"campaign": invitation.campaign},
        actor=None,
        link=invitation.campaign,
    )
    return Invitation.Status.SENT


def public_token(invitation: Invitation, salt: str) -> str:
    return signing.dumps({"i": invitation.pk}, salt=salt, compress=True)


def public_url(name: str, token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse(name, args=[token])


def invitation_links(invitation: Invitation) -> dict[str, str]:
    """The code and the public links one invitation carries."""
    signup = public_token(invitation, SIGNUP_SALT)
    return {
        "code": invitation.member.code_display,
        "signup": public_url("marketing:public-signup", signup),
        "qr": public_url("marketing:public-qr", signup),
        "unsubscribe": public_url(
            "marketing:unsubscribe", public_token(invitation, UNSUBSCRIBE_SALT)
        ),
    }


def invitation_text(invitation: Invitation, links: dict[str, str]) -> str:
    campaign = invitation.campaign
    lines = [
        campaign.message.strip() or campaign.name,
        "",
        _("Your invitation code: %(code)s") % {"code": links["code"]},
        _("Sign up: %(url)s") % {"url": links["signup"]},
        _("Unsubscribe: %(url)s") % {"url": links["unsubscribe"]},
    ]
    return "\n".join(lines)


def _send(invitation: Invitation, customer: Customer) -> str:
    links = invitation_links(invitation)
    text = invitation_text(invitation, links)
    if invitation.channel == Invitation.Channel.SMS:
        return messaging.send_sms(customer.mobile, text)
    subject = invitation.campaign.email_subject or invitation.campaign.name
    html = render_to_string(
        "marketing/invitation_email.html",
        {"campaign": invitation.campaign, "customer": customer, **links},
    )
    return messaging.send_email(customer.email, subject, text, html=html)


def invitations_send(*, campaign_id: int, limit: int | None = None) -> int:
    """Send up to one rate-limit batch of the campaign's queued invitations."""
    limit = limit or settings.MARKETING_SEND_PER_MINUTE
    sent = 0
    for _i in range(limit):
        pk = invitation_claim(campaign_id=campaign_id)
        if pk is None:
            break
        invitation_deliver(invitation_id=pk)
        sent += 1
    return sent


def invitations_stale_fail(*, now=None) -> int:
    """Rows left 'sending' by a crashed sender: marked failed, never sent twice."""
    now = now or timezone.now()
    return Invitation.objects.filter(
        status=Invitation.Status.SENDING, claimed_at__lt=now - STALE_SENDING
    ).update(
        status=Invitation.Status.FAILED,
        error=_("Interrupted while sending; not sent again to avoid a duplicate."),
    )


def campaigns_with_queued() -> list[int]:
    """Running campaigns with invitations still to send (an index probe each)."""
    queued = Invitation.objects.filter(
        campaign_id=OuterRef("pk"), status=Invitation.Status.QUEUED
    )
    return list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING)
        .filter(Exists(queued))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def invitation_from_token(token: str, salt: str) -> Invitation | None:
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return (
        Invitation.objects.select_related("campaign", "member__customer")
        .filter(pk=data.get("i"))
        .first()
    )


PURPOSES = {
    Invitation.Channel.EMAIL: ConsentRecord.Purpose.EMAIL,
    Invitation.Channel.SMS: ConsentRecord.Purpose.SMS,
}


@transaction.atomic
def unsubscribe(*, invitation: Invitation) -> bool:
    """Withdraw the customer's consent to the invitation's channel, at once: the flag
    and a ConsentRecord through customers' own consent code, and the member's other
    queued messages on that channel are skipped. False when already withdrawn."""
    customer = Customer.objects.select_for_update().get(
        pk=invitation.member.customer_id
    )
    consent_field, _address = CHANNEL_CONSENT[invitation.channel]
    Invitation.objects.filter(
        member__customer=customer,
        channel=invitation.channel,
        status=Invitation.Status.QUEUED,
    ).update(status=Invitation.Status.SKIPPED)
    if not getattr(customer, consent_field):
        return False
    consent_set(
        actor=None,
        customer=customer,
        purpose=PURPOSES[invitation.channel],
        granted=False,
        method=ConsentRecord.Method.UNSUBSCRIBE,
        note=str(invitation.campaign)[:200],
    )
    return True
